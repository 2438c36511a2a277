//! `planbok demo`: both parties in one process, one thread each, talking over channels the
//! way two nodes talk over their gRPC stream.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use k256::ecdsa::signature::hazmat::PrehashVerifier;
use planbok_drivers::{run_threads as pair, session_id as sid};
use planbok_mpc::cggmp::{self, PaillierPrimes, PrimeProgress};
use planbok_mpc::{DerivationPath, dkls, frost};
use sha3::{Digest, Keccak256};

fn eip191(msg: &str) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(format!("\x19Ethereum Signed Message:\n{}", msg.len()).as_bytes());
    h.update(msg.as_bytes());
    h.finalize().into()
}

fn check_ecdsa(
    pk: &planbok_mpc::EcdsaPublicKey,
    digest: &[u8; 32],
    sig: &planbok_mpc::EcdsaSignature,
) -> Result<()> {
    let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(&pk.to_compressed())?;
    let s = k256::ecdsa::Signature::from_slice(&sig.to_compact())?;
    vk.verify_prehash(digest, &s)
        .context("signature does not verify")
}

pub fn run() -> Result<()> {
    let message = "hello from planbok";
    let digest = eip191(message);
    let path: DerivationPath = "m/44/60/0/0".parse()?;
    println!("planbok demo: two parties in this process, one thread each\n");

    // FROST ed25519
    let t = Instant::now();
    let s = sid();
    let (a, b) = pair(move |me| frost::keygen(s, me))?;
    let pk = a.public_key();
    let shares = Arc::new([Arc::new(a), Arc::new(b)]);
    let s = sid();
    let (sig, _) =
        pair(move |me| frost::sign(s, shares[me.get() as usize].clone(), message.as_bytes()))?;
    ed25519_dalek::VerifyingKey::from_bytes(&pk.to_bytes())?.verify_strict(
        message.as_bytes(),
        &ed25519_dalek::Signature::from_bytes(&sig.0),
    )?;
    println!(
        "ed25519  FROST    public key {}",
        hex::encode(pk.to_bytes())
    );
    println!(
        "                  signature  {}  verified ({:.1?})\n",
        hex::encode(sig.0),
        t.elapsed()
    );

    // DKLs23 secp256k1
    let t = Instant::now();
    let s = sid();
    let (a, b) = pair(move |me| dkls::keygen(s, me))?;
    let pk = a.derive_public_key(&path)?;
    let shares = Arc::new([Arc::new(a), Arc::new(b)]);
    let s = sid();
    let p = path.clone();
    let (sig, _) = pair(move |me| dkls::sign(s, shares[me.get() as usize].clone(), &p, digest))?;
    check_ecdsa(&pk, &digest, &sig)?;
    println!(
        "secp256k1 DKLs23  key at {path}  {}  (unaudited protocol)",
        hex::encode(pk.to_compressed())
    );
    print_eip191(&sig, t);

    // CGGMP21 secp256k1: one-time aux info (safe primes + protocol), then keygen and sign.
    let t = Instant::now();
    println!("secp256k1 CGGMP   generating Paillier safe primes (one-time per node pair)...");
    let progress = Arc::new(Mutex::new([0u32; 2]));
    let primes = |i: usize, progress: Arc<Mutex<[u32; 2]>>| {
        thread::spawn(move || {
            PaillierPrimes::generate(|p: PrimeProgress| {
                if let Ok(mut g) = progress.lock() {
                    g[i] = p.done;
                    let done: u32 = g.iter().sum();
                    print!(
                        "\r                  [{:<4}] {done}/4 safe primes",
                        "#".repeat(done as usize)
                    );
                    std::io::stdout().flush().ok();
                }
            })
        })
    };
    let (h0, h1) = (primes(0, progress.clone()), primes(1, progress));
    let p0 = h0.join().map_err(|_| anyhow!("prime thread panicked"))??;
    let p1 = h1.join().map_err(|_| anyhow!("prime thread panicked"))??;
    println!(" ({:.1?})", t.elapsed());
    // Each party's primes move into its thread once.
    let primes = Arc::new(Mutex::new([Some(p0), Some(p1)]));
    let s = sid();
    let (x0, x1) = pair(move |me| {
        let p = primes
            .lock()
            .ok()
            .and_then(|mut g| g[me.get() as usize].take());
        let p = p.ok_or(planbok_mpc::MpcError::Closed("primes already used"))?;
        Ok(cggmp::aux_info_gen(s, me, p))
    })?;
    println!("                  aux info ready ({:.1?})", t.elapsed());
    let s = sid();
    let (a, b) = pair(move |me| Ok(cggmp::keygen(s, me)))?;
    let pk = a.derive_public_key(&path)?;
    let shares = Arc::new([(a, x0), (b, x1)]);
    let s = sid();
    let p = path.clone();
    let t = Instant::now();
    let (sig, _) = pair(move |me| {
        let (share, aux) = &shares[me.get() as usize];
        cggmp::sign(s, share, aux, &p, digest)
    })?;
    check_ecdsa(&pk, &digest, &sig)?;
    println!(
        "                  key at {path}  {}",
        hex::encode(pk.to_compressed())
    );
    print_eip191(&sig, t);
    println!(
        "Every signature above was verified by the engine before it was returned, and again here."
    );
    Ok(())
}

/// Prints an EIP-191 signature as wallets show it (r ‖ s ‖ v, v = 27/28).
fn print_eip191(sig: &planbok_mpc::EcdsaSignature, started: Instant) {
    let mut rsv = sig.to_rsv();
    rsv[64] += 27;
    println!(
        "                  EIP-191 signature {}  verified ({:.1?})\n",
        hex::encode(rsv),
        started.elapsed()
    );
}
