//! Verifying an audit chain: pure functions, no database. The same code checks the
//! server's own tables (`ServerStore::verify_audit`) and an exported NDJSON file.

use std::fmt;

use super::audit_format::{AUDIT_HASH_VERSION, AuditEntry, GENESIS_HASH, audit_hash};

/// Why a chain fails, at the first bad sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The entry's content no longer hashes to its `hash`, though it still links to its
    /// predecessor: a field was changed.
    Edited,
    /// Sequence numbers skip: the entry at `seq` (and maybe more) is missing.
    Deleted,
    /// The entry is out of place: its seq goes backwards or repeats, or it neither hashes
    /// to its content nor links to its predecessor (moved here from another position,
    /// e.g. two entries swapped their seq).
    Reordered,
    /// The entry hashes correctly but its `prev_hash` is not the previous entry's hash
    /// (the previous entry was replaced, hash and all, or this one was re-hashed).
    BrokenLink,
    /// The entries end before the expected head: the tail was cut off.
    Truncated,
    /// The last entry is not the expected head (another hash at the head's seq, or
    /// entries beyond it).
    HeadMismatch,
    /// The entry belongs to another chain.
    WrongChain,
    /// The entry's hash format version is unknown to this build.
    UnsupportedVersion,
}

impl FaultKind {
    /// The stable snake_case name (`"edited"`, `"deleted"`, …), for reports and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Edited => "edited",
            FaultKind::Deleted => "deleted",
            FaultKind::Reordered => "reordered",
            FaultKind::BrokenLink => "broken_link",
            FaultKind::Truncated => "truncated",
            FaultKind::HeadMismatch => "head_mismatch",
            FaultKind::WrongChain => "wrong_chain",
            FaultKind::UnsupportedVersion => "unsupported_version",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first problem found in a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainFault {
    /// The first sequence number that is wrong (for `Deleted`/`Truncated`: the first
    /// missing one).
    pub seq: i64,
    /// What is wrong with it.
    pub kind: FaultKind,
    /// A sentence for a human.
    pub detail: String,
}

/// The result of verifying one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// How many entries were read.
    pub entries: u64,
    /// The last entry read: `(seq, hash)`.
    pub last: Option<(i64, String)>,
    /// Whether the last entry is the expected head; `None` if no head was given.
    pub head_matches: Option<bool>,
    /// The first fault; `None` if the chain verifies.
    pub fault: Option<ChainFault>,
}

impl ChainReport {
    /// `true` if no fault was found.
    pub fn is_ok(&self) -> bool {
        self.fault.is_none()
    }
}

/// Checks entries one at a time, in the order given, so a long chain can be verified
/// page by page without holding it in memory.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    chain: Option<String>,
    next_seq: i64,
    prev_hash: String,
    entries: u64,
    last: Option<(i64, String)>,
    fault: Option<ChainFault>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier::new()
    }
}

impl ChainVerifier {
    /// Verifies a chain from its first entry (seq 1, after `GENESIS_HASH`).
    pub fn new() -> ChainVerifier {
        ChainVerifier::resume_after(0, GENESIS_HASH.to_owned())
    }

    /// Verifies a range that continues after an entry already trusted (`seq`, `hash`),
    /// e.g. an export starting where the last verified one ended.
    pub fn resume_after(seq: i64, hash: String) -> ChainVerifier {
        ChainVerifier {
            chain: None,
            next_seq: seq.saturating_add(1),
            prev_hash: hash,
            entries: 0,
            last: None,
            fault: None,
        }
    }

    /// Checks the next entry. After the first fault, entries are only counted.
    pub fn push(&mut self, e: &AuditEntry) {
        self.entries += 1;
        self.last = Some((e.seq, e.hash.clone()));
        if self.fault.is_some() {
            return;
        }
        if let Some(fault) = self.check(e) {
            self.fault = Some(fault);
            return;
        }
        self.next_seq = e.seq.saturating_add(1);
        self.prev_hash.clone_from(&e.hash);
    }

    fn check(&mut self, e: &AuditEntry) -> Option<ChainFault> {
        let fault = |seq, kind, detail: String| Some(ChainFault { seq, kind, detail });
        match &self.chain {
            None => self.chain = Some(e.chain.clone()),
            Some(chain) if *chain != e.chain => {
                return fault(
                    e.seq,
                    FaultKind::WrongChain,
                    format!("entry of chain {:?} inside chain {chain:?}", e.chain),
                );
            }
            Some(_) => {}
        }
        if e.version != AUDIT_HASH_VERSION {
            return fault(
                e.seq,
                FaultKind::UnsupportedVersion,
                format!("hash format version {}", e.version),
            );
        }
        let expected = self.next_seq;
        if e.seq > expected {
            let missing = if e.seq - 1 == expected {
                format!("seq {expected} is missing")
            } else {
                format!("seq {expected} to {} are missing", e.seq - 1)
            };
            return fault(expected, FaultKind::Deleted, missing);
        }
        if e.seq < expected {
            return fault(
                e.seq,
                FaultKind::Reordered,
                format!("seq {} comes after seq {}", e.seq, expected - 1),
            );
        }
        let hash_ok = audit_hash(e) == e.hash;
        let link_ok = e.prev_hash == self.prev_hash;
        match (hash_ok, link_ok) {
            (true, true) => None,
            (false, true) => fault(
                e.seq,
                FaultKind::Edited,
                "the content does not match the entry's hash".into(),
            ),
            (false, false) => fault(
                e.seq,
                FaultKind::Reordered,
                "the entry neither matches its hash nor links to the previous entry: \
                 moved here from another position"
                    .into(),
            ),
            (true, false) => fault(
                e.seq,
                FaultKind::BrokenLink,
                format!("prev_hash does not match the hash of seq {}", e.seq - 1),
            ),
        }
    }

    /// Ends the check. `expected_head` is the `(seq, hash)` the chain must end with
    /// (the database's head, or one an organization noted earlier); a chain that ends
    /// before it was truncated.
    pub fn finish(self, expected_head: Option<(i64, String)>) -> ChainReport {
        let mut fault = self.fault;
        let head_matches = expected_head.as_ref().map(|head| {
            let matches = self.last.as_ref() == Some(head);
            if fault.is_none() && !matches {
                fault = Some(head_fault(self.last.as_ref(), self.next_seq, head));
            }
            matches
        });
        ChainReport {
            entries: self.entries,
            last: self.last,
            head_matches,
            fault,
        }
    }
}

fn head_fault(last: Option<&(i64, String)>, next_seq: i64, head: &(i64, String)) -> ChainFault {
    let (head_seq, head_hash) = head;
    match last {
        Some((seq, _)) if seq > head_seq => ChainFault {
            seq: head_seq + 1,
            kind: FaultKind::HeadMismatch,
            detail: format!("entries continue past the head (seq {head_seq}) to seq {seq}"),
        },
        Some((seq, hash)) if seq == head_seq => ChainFault {
            seq: *seq,
            kind: FaultKind::HeadMismatch,
            detail: format!("the head's hash is {head_hash}, the entry's is {hash}"),
        },
        _ => ChainFault {
            seq: next_seq,
            kind: FaultKind::Truncated,
            detail: format!("the entries end before the head (seq {head_seq})"),
        },
    }
}

/// Verifies a whole chain from seq 1: recomputes every hash, checks every link and that
/// seq counts up by one, and, if given, that the last entry is `expected_head`. Having
/// all entries, it can tell a seq that comes later, out of order (`Reordered`), from one
/// that is not there (`Deleted`); `ChainVerifier`, reading a stream, cannot look ahead.
pub fn verify_chain(
    entries: impl IntoIterator<Item = AuditEntry>,
    expected_head: Option<(i64, String)>,
) -> ChainReport {
    let entries: Vec<AuditEntry> = entries.into_iter().collect();
    let mut verifier = ChainVerifier::new();
    for e in &entries {
        verifier.push(e);
    }
    let mut report = verifier.finish(expected_head);
    if let Some(fault) = &mut report.fault
        && fault.kind == FaultKind::Deleted
        && entries.iter().any(|e| e.seq == fault.seq)
    {
        fault.kind = FaultKind::Reordered;
        fault.detail = format!("seq {} comes later, out of order", fault.seq);
    }
    report
}
