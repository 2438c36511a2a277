//! Regenerates `tests/fixtures/paillier-primes.json`: safe primes that let the test suite
//! skip minutes of prime generation. Test-only; production nodes generate their own.
//!
//! `cargo run -p planbok-mpc --example gen-test-primes -- N OUT`

use planbok_mpc::cggmp::PaillierPrimes;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().as_deref().unwrap_or("4").parse()?;
    let out = args
        .next()
        .unwrap_or_else(|| "tests/fixtures/paillier-primes.json".into());
    let mut all = Vec::new();
    for i in 0..n {
        let primes = PaillierPrimes::generate(|p| {
            eprintln!("set {}/{n}: {}/{} primes", i + 1, p.done, p.total)
        })?;
        all.push(hex::encode(&*primes.to_sealable_bytes()?));
    }
    std::fs::write(&out, serde_json::to_string_pretty(&all)?)?;
    eprintln!("wrote {out}");
    Ok(())
}
