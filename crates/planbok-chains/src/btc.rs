//! Bitcoin: BIP-137 signed messages.

use sha2::{Digest, Sha256};

/// BIP-137 header byte base for a P2WPKH (native segwit) key: 39..=42, plus the recovery id.
pub(crate) const P2WPKH_HEADER: u8 = 39;

/// The BIP-137 / Bitcoin Core message digest: SHA-256d of
/// `"\x18Bitcoin Signed Message:\n"` ‖ CompactSize(len) ‖ message.
pub(crate) fn bip137_digest(message: &[u8]) -> [u8; 32] {
    let mut preimage = Vec::with_capacity(message.len() + 34);
    preimage.extend_from_slice(b"\x18Bitcoin Signed Message:\n");
    compact_size(message.len() as u64, &mut preimage);
    preimage.extend_from_slice(message);
    Sha256::digest(Sha256::digest(&preimage)).into()
}

/// Bitcoin's CompactSize integer (the "varint" of the P2P format).
fn compact_size(n: u64, out: &mut Vec<u8>) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_size_boundaries() {
        for (n, want) in [
            (0u64, "00"),
            (0xfc, "fc"),
            (0xfd, "fdfd00"),
            (0xffff, "fdffff"),
            (0x1_0000, "fe00000100"),
        ] {
            let mut out = Vec::new();
            compact_size(n, &mut out);
            assert_eq!(hex::encode(out), want);
        }
    }
}
