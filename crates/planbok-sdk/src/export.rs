//! The export's CSV, rebuilt on the client from the nodes' sealed shares (feature
//! `export`): the one CSV of `planbok export decrypt`, `planbok customer complete` and the
//! Gateway page. The shares are opened and the keys rebuilt by `planbok-export` (no GMP:
//! this builds for WebAssembly); each rebuilt key must give its wallet's address.
//!
//! Columns: `Address,Private Key,Blockchain,Derivation Path,Key Type`. EVM keys are
//! `0x`-hex, Bitcoin keys WIF (compressed). FROST ed25519 keys have no RFC 8032 seed, only
//! a secret scalar, so Solana and NEAR rows carry `scalar:0x…` with key type
//! `ed25519-scalar`: wallets that import seeds (Phantom, MyNearWallet) cannot take them.

use base64::Engine as _;
use planbok_api::customer_ops::{GatewayExport, GatewayExportedKey};
use planbok_api::model::Wallet;
use planbok_export::{ExportProtocol, ExportedKey, open_export_dangerous};
use planbok_types::EcdsaProtocol;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

pub use planbok_export::ExportRecipientSecret;

/// The CSV's column line.
pub const CSV_HEADER: &str = "Address,Private Key,Blockchain,Derivation Path,Key Type";

/// Why a CSV could not be written: never a key or a share.
#[derive(Debug, thiserror::Error)]
pub enum ExportCsvError {
    /// A share did not open, a key did not rebuild, or a rebuilt key is not its wallet's.
    #[error(transparent)]
    Key(#[from] planbok_export::ExportError),
    /// The export's answer or the wallet does not hold what the CSV needs.
    #[error("{0}")]
    Data(String),
}

fn data(m: impl Into<String>) -> ExportCsvError {
    ExportCsvError::Data(m.into())
}

/// WIF of a compressed-key Bitcoin private key.
fn wif(secret: &[u8; 32], testnet: bool) -> Zeroizing<String> {
    let mut payload = Zeroizing::new(Vec::with_capacity(38));
    payload.push(if testnet { 0xef } else { 0x80 });
    payload.extend_from_slice(secret);
    payload.push(0x01);
    let check = Sha256::digest(Sha256::digest(&payload[..]));
    payload.extend_from_slice(&check[..4]);
    Zeroizing::new(bs58::encode(&payload[..]).into_string())
}

/// `prefix` and the secret's hex, with no copy of the secret left unzeroized.
fn hex_secret(prefix: &str, secret: &[u8; 32]) -> Result<Zeroizing<String>, ExportCsvError> {
    let mut digits = Zeroizing::new([0u8; 64]);
    hex::encode_to_slice(secret, &mut digits[..]).map_err(|e| data(e.to_string()))?;
    let digits = std::str::from_utf8(&digits[..]).map_err(|e| data(e.to_string()))?;
    Ok(joined(&[prefix, digits]))
}

/// The parts joined into one string allocated once (no reallocation leaves a copy of a
/// secret part behind), zeroized on drop.
fn joined(parts: &[&str]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(parts.iter().map(|p| p.len()).sum()));
    for p in parts {
        out.push_str(p);
    }
    out
}

/// Opens one wallet's two sealed shares with `sk`, rebuilds its private key at the
/// wallet's path, checks that it gives the wallet's address, and formats its CSV row
/// (without a line end).
pub fn csv_row(
    sk: &ExportRecipientSecret,
    key_id: &str,
    node1_ciphertext: &[u8],
    node2_ciphertext: &[u8],
    protocol: &str,
    w: &Wallet,
) -> Result<Zeroizing<String>, ExportCsvError> {
    let protocol = match (protocol, EcdsaProtocol::parse(protocol)) {
        (_, Ok(EcdsaProtocol::Cggmp)) => ExportProtocol::Cggmp,
        (_, Ok(EcdsaProtocol::Dkls23)) => ExportProtocol::Dkls23,
        ("frost", _) => ExportProtocol::Frost,
        (other, Err(_)) => return Err(data(format!("unknown protocol {other}"))),
    };
    let path = planbok_export::hd::parse_path(&w.derivation_path)?;
    let key = open_export_dangerous(
        sk,
        key_id,
        node1_ciphertext,
        node2_ciphertext,
        protocol,
        &path,
    )?;
    let chain = planbok_chains::Chain::parse(&w.blockchain).map_err(|e| data(e.to_string()))?;
    let (public_key, private, kind) = match &key {
        ExportedKey::Ecdsa(k) => {
            let private = match chain.family() {
                planbok_chains::Family::Bitcoin => wif(&k.secret, chain.is_testnet()),
                _ => hex_secret("0x", &k.secret)?,
            };
            (k.public_key.to_vec(), private, "secp256k1")
        }
        ExportedKey::Ed25519(k) => (
            k.public_key.to_vec(),
            hex_secret("scalar:0x", &k.secret_scalar)?,
            "ed25519-scalar",
        ),
    };
    // The rebuilt key must be this wallet's: same address.
    let address = planbok_chains::address(chain, &public_key).map_err(|e| data(e.to_string()))?;
    if address != w.address {
        return Err(data(format!(
            "wallet {}: the rebuilt key gives {address}, not {}",
            w.id, w.address
        )));
    }
    Ok(joined(&[
        &w.address,
        ",",
        &private,
        ",",
        &w.blockchain,
        ",",
        &w.derivation_path,
        ",",
        kind,
    ]))
}

/// A customer's export as CSV: the customer line, [`CSV_HEADER`], then one row per wallet
/// of `export` (in its order), each rebuilt from `exported` (the nodes' answer to the
/// Gateway's operation) with `sk` and checked against its address.
pub fn customer_csv(
    customer_id: &str,
    export: &GatewayExport,
    exported: &[GatewayExportedKey],
    sk: &ExportRecipientSecret,
) -> Result<Zeroizing<String>, ExportCsvError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let head = format!(
        "Customer: {} ({}) | RefID: {}\n{}\n",
        export.customer_name,
        customer_id,
        export.customer_ref_id.as_deref().unwrap_or_default(),
        CSV_HEADER
    );
    let mut rows = Vec::with_capacity(export.wallets.len());
    for w in &export.wallets {
        let k = export
            .keys
            .iter()
            .find(|k| k.key_id == w.key_id)
            .ok_or_else(|| data("a wallet on a key the export does not carry"))?;
        let x = exported
            .iter()
            .find(|x| x.key_id == w.key_id)
            .ok_or_else(|| data("a key the nodes did not export"))?;
        let decode = |c: &str| {
            b64.decode(c)
                .map_err(|_| data("a sealed share is not base64"))
        };
        rows.push(csv_row(
            sk,
            &k.key_id,
            &decode(&x.node1_ciphertext)?,
            &decode(&x.node2_ciphertext)?,
            &k.protocol,
            &w.wallet,
        )?);
    }
    let mut parts: Vec<&str> = vec![&head];
    for row in &rows {
        parts.extend([row.as_str(), "\n"]);
    }
    Ok(joined(&parts))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_written_as_prefixed_lowercase_hex() {
        let mut k = [0u8; 32];
        k[0] = 0xab;
        k[31] = 0x01;
        let got = hex_secret("scalar:0x", &k).unwrap();
        assert_eq!(got.len(), "scalar:0x".len() + 64);
        assert!(got.starts_with("scalar:0xab00"), "{}", &*got);
        assert!(got.ends_with("0001"), "{}", &*got);
        assert_eq!(&*joined(&["a", ",", "bc"]), "a,bc");
    }

    #[test]
    fn wif_is_the_bip_known_encoding() {
        // The well-known example key 0x0C28FCA3…1D (Bitcoin wiki, "Wallet import format").
        let k = hex::decode("0c28fca386c7a227600b2fe50b7cae11ec86d3bf1fbe471be89827e19d72aa1d")
            .unwrap();
        let k: [u8; 32] = k.try_into().unwrap();
        assert_eq!(
            &*wif(&k, false),
            "KwdMAjGmerYanjeui5SHS7JkmpZvVipYvB2LJGU1ZxJwYvP98617"
        );
    }
}
