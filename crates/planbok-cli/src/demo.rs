//! `planbok demo`: both parties in one process, one thread each, talking over channels the
//! way two nodes talk over their gRPC stream.

use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use k256::ecdsa::signature::hazmat::PrehashVerifier;
use planbok_mpc::cggmp::{self, PaillierPrimes, PrimeProgress};
use planbok_mpc::{DerivationPath, Engine, PartyIndex, Session, SessionId, dkls, frost};
use sha3::{Digest, Keccak256};

/// Drives one party's session to completion over a channel pair.
fn drive<E: Engine>(
    mut s: Session<E>,
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
) -> Result<E::Output> {
    for f in s.start()? {
        tx.send(f).ok();
    }
    while !s.is_finished() {
        let frame = rx.recv().context("peer hung up")?;
        for f in s.handle(&frame)? {
            tx.send(f).ok();
        }
    }
    s.take_output()
        .ok_or_else(|| anyhow!("finished without output"))
}

/// Runs party 0 and party 1 on two threads; `make` builds each party's session inside its
/// thread (CGGMP sessions cannot move between threads).
fn pair<E, F>(make: F) -> Result<(E::Output, E::Output)>
where
    E: Engine,
    E::Output: Send + 'static,
    F: Fn(PartyIndex) -> Result<Session<E>> + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let (tx0, rx1) = channel();
    let (tx1, rx0) = channel();
    let m = make.clone();
    let h0 = thread::spawn(move || drive(m(PartyIndex::NODE1)?, tx0, rx0));
    let h1 = thread::spawn(move || drive(make(PartyIndex::NODE2)?, tx1, rx1));
    let a = h0.join().map_err(|_| anyhow!("party 0 panicked"))?;
    let b = h1.join().map_err(|_| anyhow!("party 1 panicked"))?;
    Ok((a?, b?))
}

fn sid() -> SessionId {
    use rand_core::RngCore;
    let mut b = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut b);
    SessionId::from_bytes(b)
}

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
    let (a, b) = pair(move |me| Ok(frost::keygen(s, me)?))?;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let pk = a.public_key();
    let s = sid();
    let (sig, _) = pair(move |me| {
        let share = if me == PartyIndex::NODE1 {
            a.clone()
        } else {
            b.clone()
        };
        Ok(frost::sign(s, share, message.as_bytes())?)
    })?;
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
    let (a, b) = pair(move |me| Ok(dkls::keygen(s, me)?))?;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let pk = a.derive_public_key(&path)?;
    let s = sid();
    let p = path.clone();
    let (sig, _) = pair(move |me| {
        let share = if me == PartyIndex::NODE1 {
            a.clone()
        } else {
            b.clone()
        };
        Ok(dkls::sign(s, share, &p, digest)?)
    })?;
    check_ecdsa(&pk, &digest, &sig)?;
    println!(
        "secp256k1 DKLs23  key at {path}  {}  (unaudited protocol)",
        hex::encode(pk.to_compressed())
    );
    println!(
        "                  EIP-191 signature {}  verified ({:.1?})\n",
        hex::encode(rsv27(&sig)),
        t.elapsed()
    );

    // CGGMP21 secp256k1: one-time aux info (safe primes + protocol), then keygen and sign.
    let t = Instant::now();
    println!("secp256k1 CGGMP   generating Paillier safe primes (one-time per node pair)...");
    let progress = Arc::new(std::sync::Mutex::new([0u32; 2]));
    let primes = |i: usize, progress: Arc<std::sync::Mutex<[u32; 2]>>| {
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
    let primes = Arc::new(std::sync::Mutex::new([Some(p0), Some(p1)]));
    let s = sid();
    let (x0, x1) = pair(move |me| {
        let p = primes.lock().map_err(|_| anyhow!("lock"))?[me.get() as usize]
            .take()
            .context("primes used twice")?;
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
        Ok(cggmp::sign(s, share, aux, &p, digest)?)
    })?;
    check_ecdsa(&pk, &digest, &sig)?;
    println!(
        "                  key at {path}  {}",
        hex::encode(pk.to_compressed())
    );
    println!(
        "                  EIP-191 signature {}  verified ({:.1?})\n",
        hex::encode(rsv27(&sig)),
        t.elapsed()
    );
    println!(
        "Every signature above was verified by the engine before it was returned, and again here."
    );
    Ok(())
}

fn rsv27(sig: &planbok_mpc::EcdsaSignature) -> [u8; 65] {
    let mut b = sig.to_rsv();
    b[64] += 27;
    b
}
