//! `cargo bench -p planbok-mpc`: DKG and signing per protocol through the engine (both
//! parties in this process), next to the same protocols called directly on the crates
//! (`raw`: no framing, no encoding, messages passed as values) and single-key signing as
//! the floor. Results and method: docs/benchmarks.md.
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark: a panic is the failure report"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cggmp21::round_based::state_machine::{ProceedResult, StateMachine};
use criterion::{Criterion, criterion_group, criterion_main};
use planbok_drivers::{run_local, run_threads, session_id as sid};
use planbok_mpc::cggmp::{self, CggmpAuxInfo, CggmpKeyShare, PaillierPrimes};
use planbok_mpc::{DerivationPath, Engine, PartyIndex, Session, dkls, frost};
use rand_core::OsRng;

const P0: PartyIndex = PartyIndex::NODE1;
const P1: PartyIndex = PartyIndex::NODE2;

fn run<A: Engine, B: Engine>(a: Session<A>, b: Session<B>) -> (A::Output, B::Output) {
    run_local(a, b).unwrap()
}

fn fixture_primes(i: usize) -> String {
    let all: Vec<String> =
        serde_json::from_str(include_str!("../tests/fixtures/paillier-primes.json")).unwrap();
    all[i].clone()
}

fn floor(c: &mut Criterion) {
    use k256::ecdsa::signature::hazmat::PrehashSigner;
    let mut g = c.benchmark_group("floor");
    let sk = k256::ecdsa::SigningKey::from_slice(&[0x42u8; 32]).unwrap();
    g.bench_function("k256_sign_prehash", |b| {
        b.iter(|| -> k256::ecdsa::Signature { sk.sign_prehash(&[7u8; 32]).unwrap() })
    });
    let ek = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    g.bench_function("ed25519_dalek_sign", |b| {
        use ed25519_dalek::Signer;
        b.iter(|| ek.sign(b"hello"))
    });
    g.finish();
}

fn frost_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("frost");
    g.bench_function("keygen", |b| {
        b.iter(|| {
            let s = sid();
            run(frost::keygen(s, P0).unwrap(), frost::keygen(s, P1).unwrap())
        })
    });
    let (a, bb) = {
        let s = sid();
        run(frost::keygen(s, P0).unwrap(), frost::keygen(s, P1).unwrap())
    };
    let (a, bb) = (Arc::new(a), Arc::new(bb));
    g.bench_function("sign", |b| {
        b.iter(|| {
            let s = sid();
            run(
                frost::sign(s, a.clone(), b"message").unwrap(),
                frost::sign(s, bb.clone(), b"message").unwrap(),
            )
        })
    });
    g.bench_function("sign_raw", |b| {
        use frost_ed25519 as f;
        let (shares, pubkeys) =
            f::keys::generate_with_dealer(2, 2, f::keys::IdentifierList::Default, OsRng).unwrap();
        let kps: BTreeMap<_, _> = shares
            .into_iter()
            .map(|(id, s)| (id, f::keys::KeyPackage::try_from(s).unwrap()))
            .collect();
        b.iter(|| {
            let mut nonces = BTreeMap::new();
            let mut commitments = BTreeMap::new();
            for (id, kp) in &kps {
                let (n, cm) = f::round1::commit(kp.signing_share(), &mut OsRng);
                nonces.insert(*id, n);
                commitments.insert(*id, cm);
            }
            // Each party builds the package and aggregates (both parties do in the engine).
            let mut sig = None;
            for _ in 0..2 {
                let pkg = f::SigningPackage::new(commitments.clone(), b"message");
                let shares: BTreeMap<_, _> = kps
                    .iter()
                    .map(|(id, kp)| (*id, f::round2::sign(&pkg, &nonces[id], kp).unwrap()))
                    .collect();
                let s = f::aggregate(&pkg, &shares, &pubkeys).unwrap();
                pubkeys.verifying_key().verify(b"message", &s).unwrap();
                sig = Some(s);
            }
            sig
        })
    });
    g.finish();
}

fn dkls_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("dkls23");
    g.sample_size(20);
    g.bench_function("keygen", |b| {
        b.iter(|| {
            let s = sid();
            run(dkls::keygen(s, P0).unwrap(), dkls::keygen(s, P1).unwrap())
        })
    });
    let (a, bb) = {
        let s = sid();
        run(dkls::keygen(s, P0).unwrap(), dkls::keygen(s, P1).unwrap())
    };
    let (a, bb) = (Arc::new(a), Arc::new(bb));
    let path: DerivationPath = "m/44/60/0/0".parse().unwrap();
    g.bench_function("sign", |b| {
        b.iter(|| {
            let s = sid();
            run(
                dkls::sign(s, a.clone(), &path, [7; 32]).unwrap(),
                dkls::sign(s, bb.clone(), &path, [7; 32]).unwrap(),
            )
        })
    });
    g.bench_function("derive_public_key", |b| {
        b.iter(|| a.derive_public_key(&path).unwrap())
    });
    g.bench_function("sign_raw", |b| {
        use dkls23::protocols::signing::SignData;
        use dkls23::protocols::{Parameters, PartyIndex as I};
        let params = Parameters::new(2, 2).unwrap();
        let sk = k256::Scalar::from(123456789u64);
        let (parties, _) = dkls23::protocols::re_key::re_key::<k256::Secp256k1>(
            &params,
            &[1; 32],
            &sk,
            None,
            |_| String::new(),
        );
        b.iter(|| {
            // A direct caller derives the share to the wallet's path for every signature,
            // exactly as the engine does.
            let parties: Vec<_> = parties
                .iter()
                .map(|p| {
                    p.derive_from_path("m/44/60/0/0", |_| String::new())
                        .unwrap()
                })
                .collect();
            let sign_id = sid().as_bytes().to_vec();
            let data: Vec<SignData> = (0..2)
                .map(|i| SignData {
                    sign_id: sign_id.clone(),
                    counterparties: vec![I::new(2 - i as u8).unwrap()],
                    message_hash: [7; 32],
                })
                .collect();
            let r1: Vec<_> = (0..2)
                .map(|i| parties[i].sign_phase1(&data[i]).unwrap())
                .collect();
            let mut k1 = Vec::new();
            let mut t1 = Vec::new();
            for (u, k, t) in r1 {
                k1.push((u, k));
                t1.push(t);
            }
            let mut k2 = Vec::new();
            let mut t2 = Vec::new();
            for (i, (u, k)) in k1.into_iter().enumerate() {
                let (u, k, t) = parties[i].sign_phase2(&data[i], u, k, &t1[1 - i]).unwrap();
                k2.push((u, k));
                t2.push(t);
            }
            let mut x = Vec::new();
            let mut bc = Vec::new();
            for (i, (u, k)) in k2.into_iter().enumerate() {
                let (xc, b3) = parties[i].sign_phase3(&data[i], u, k, &t2[1 - i]).unwrap();
                x.push(xc);
                bc.push(b3);
            }
            (0..2)
                .map(|i| parties[i].sign_phase4(&data[i], &x[i], &bc, true).unwrap())
                .collect::<Vec<_>>()
        })
    });
    g.finish();
}

fn cggmp_setup() -> (
    CggmpKeyShare,
    CggmpKeyShare,
    Arc<(CggmpAuxInfo, CggmpAuxInfo)>,
) {
    let p =
        |i| PaillierPrimes::from_sealable_bytes(&hex::decode(fixture_primes(i)).unwrap()).unwrap();
    let s = sid();
    let aux = run(
        cggmp::aux_info_gen(s, P0, p(0)),
        cggmp::aux_info_gen(s, P1, p(1)),
    );
    let s = sid();
    let (a, b) = run(cggmp::keygen(s, P0), cggmp::keygen(s, P1));
    (a, b, Arc::new(aux))
}

fn cggmp_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("cggmp21");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(25));
    g.bench_function("keygen", |b| {
        b.iter(|| {
            let s = sid();
            run(cggmp::keygen(s, P0), cggmp::keygen(s, P1))
        })
    });
    let (a, bb, aux) = cggmp_setup();
    let path: DerivationPath = "m/44/60/0/0".parse().unwrap();
    g.bench_function("sign_one_thread", |b| {
        b.iter(|| {
            let s = sid();
            run(
                cggmp::sign(s, &a, &aux.0, &path, [7; 32]).unwrap(),
                cggmp::sign(s, &bb, &aux.1, &path, [7; 32]).unwrap(),
            )
        })
    });
    let shares = Arc::new([a, bb]);
    g.bench_function("sign_two_threads", |b| {
        b.iter(|| {
            let s = sid();
            let (shares, aux, path) = (shares.clone(), aux.clone(), path.clone());
            run_threads(move |me| {
                let x = if me == P0 { &aux.0 } else { &aux.1 };
                cggmp::sign(s, &shares[me.get() as usize], x, &path, [7; 32])
            })
            .unwrap()
        })
    });
    g.finish();
}

/// One side of a raw run: the library's state machine, its inbox, and its output.
struct RawParty<S: StateMachine> {
    sm: S,
    index: u16,
    inbox: std::collections::VecDeque<(bool, S::Msg)>,
    output: Option<S::Output>,
}

impl<S: StateMachine> RawParty<S> {
    fn new(sm: S, index: u16) -> Self {
        RawParty {
            sm,
            index,
            inbox: Default::default(),
            output: None,
        }
    }

    /// Runs until the machine needs a message its inbox does not have (or finishes);
    /// pushes what it sends to `outbox`. Returns whether it consumed any message.
    fn pump(
        &mut self,
        outbox: &mut std::collections::VecDeque<(bool, S::Msg)>,
        id: &mut u64,
    ) -> bool {
        use cggmp21::round_based::{Incoming, MessageType};
        let mut consumed = false;
        while self.output.is_none() {
            match self.sm.proceed() {
                ProceedResult::SendMsg(o) => outbox.push_back((o.recipient.is_broadcast(), o.msg)),
                ProceedResult::NeedsOneMoreMessage => {
                    let Some((bc, msg)) = self.inbox.pop_front() else {
                        break;
                    };
                    *id += 1;
                    let msg_type = if bc {
                        MessageType::Broadcast
                    } else {
                        MessageType::P2P
                    };
                    let sender = 1 - self.index;
                    self.sm
                        .received_msg(Incoming {
                            id: *id,
                            sender,
                            msg_type,
                            msg,
                        })
                        .ok()
                        .unwrap();
                    consumed = true;
                }
                ProceedResult::Output(o) => self.output = Some(o),
                ProceedResult::Yielded => {}
                ProceedResult::Error(e) => panic!("{e}"),
            }
        }
        consumed
    }
}

/// Runs two round-based state machines against each other on this thread, messages passed
/// as values (the library driven directly, no planbok code in the loop).
fn run_sm<A, B, M>(a: A, b: B) -> (A::Output, B::Output)
where
    A: StateMachine<Msg = M>,
    B: StateMachine<Msg = M>,
{
    let (mut a, mut b) = (RawParty::new(a, 0), RawParty::new(b, 1));
    let mut id = 0;
    loop {
        let progressed = a.pump(&mut b.inbox, &mut id) | b.pump(&mut a.inbox, &mut id);
        if let (Some(_), Some(_)) = (&a.output, &b.output) {
            return (a.output.unwrap(), b.output.unwrap());
        }
        assert!(
            progressed || !a.inbox.is_empty() || !b.inbox.is_empty(),
            "raw run stalled"
        );
    }
}

/// cggmp21 signing called directly: library key shares, library state machines.
fn cggmp_raw(c: &mut Criterion) {
    use cggmp21::supported_curves::Secp256k1;
    use cggmp21::{DataToSign, ExecutionId, KeyShare, PregeneratedPrimes};
    let primes = |i: usize| -> PregeneratedPrimes {
        let b = hex::decode(fixture_primes(i)).unwrap();
        serde_json::from_slice(&b[6..]).unwrap()
    };
    let (mut r0, mut r1) = (OsRng, OsRng);
    let (aux0, aux1) = run_sm(
        cggmp21::aux_info_gen(ExecutionId::new(b"aux"), 0, 2, primes(0))
            .enforce_reliable_broadcast(false)
            .into_state_machine(&mut r0),
        cggmp21::aux_info_gen(ExecutionId::new(b"aux"), 1, 2, primes(1))
            .enforce_reliable_broadcast(false)
            .into_state_machine(&mut r1),
    );
    let (mut r0, mut r1) = (OsRng, OsRng);
    let (k0, k1) = run_sm(
        cggmp21::keygen::<Secp256k1>(ExecutionId::new(b"kg"), 0, 2)
            .enforce_reliable_broadcast(false)
            .hd_wallet(true)
            .into_state_machine(&mut r0),
        cggmp21::keygen::<Secp256k1>(ExecutionId::new(b"kg"), 1, 2)
            .enforce_reliable_broadcast(false)
            .hd_wallet(true)
            .into_state_machine(&mut r1),
    );
    let s0 = KeyShare::from_parts((k0.unwrap(), aux0.unwrap())).unwrap();
    let s1 = KeyShare::from_parts((k1.unwrap(), aux1.unwrap())).unwrap();
    let mut g = c.benchmark_group("cggmp21");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(25));
    g.bench_function("sign_raw_one_thread", |b| {
        b.iter(|| {
            let eid = sid();
            let data = DataToSign::from_scalar(
                cggmp21::generic_ec::Scalar::from_be_bytes_mod_order([7u8; 32]),
            );
            let (mut r0, mut r1) = (OsRng, OsRng);
            let m0 = cggmp21::signing(ExecutionId::new(eid.as_bytes()), 0, &[0, 1], &s0)
                .enforce_reliable_broadcast(false)
                .set_derivation_path([44u32, 60, 0, 0])
                .unwrap()
                .sign_sync(&mut r0, data);
            let m1 = cggmp21::signing(ExecutionId::new(eid.as_bytes()), 1, &[0, 1], &s1)
                .enforce_reliable_broadcast(false)
                .set_derivation_path([44u32, 60, 0, 0])
                .unwrap()
                .sign_sync(&mut r1, data);
            let (a, b) = run_sm(m0, m1);
            (a.unwrap(), b.unwrap())
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    floor,
    frost_benches,
    dkls_benches,
    cggmp_benches,
    cggmp_raw
);
criterion_main!(benches);
