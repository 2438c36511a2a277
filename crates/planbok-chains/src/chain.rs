//! The chain registry: the 18 chains of the API, in API.md's order, and what each one is.

use std::fmt;

use crate::error::ChainError;

/// How a chain builds addresses and what it signs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Family {
    /// Ethereum and its L2s/sidechains: EIP-55 addresses, EIP-191/712, RLP transactions.
    Evm,
    /// Bitcoin: P2WPKH addresses, BIP-137 messages.
    Bitcoin,
    /// Solana: base58 addresses, ed25519 over the raw message.
    Solana,
    /// NEAR: implicit hex accounts, ed25519 over SHA-256 of the borsh transaction.
    Near,
}

/// The signature curve of a chain's wallets (one master key per curve per wallet set).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Curve {
    /// ECDSA over secp256k1; wallets are BIP-32 children of the set's master key.
    Secp256k1,
    /// EdDSA over Curve25519; every wallet has its own key.
    Ed25519,
}

impl Family {
    /// The lowercase name used in `GET /v2/config/chains`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Evm => "evm",
            Family::Bitcoin => "bitcoin",
            Family::Solana => "solana",
            Family::Near => "near",
        }
    }
}

impl Curve {
    /// The lowercase name used in `GET /v2/config/chains`.
    pub fn as_str(self) -> &'static str {
        match self {
            Curve::Secp256k1 => "secp256k1",
            Curve::Ed25519 => "ed25519",
        }
    }
}

struct Info {
    id: &'static str,
    name: &'static str,
    family: Family,
    testnet: bool,
    evm_chain_id: Option<u64>,
    symbol: &'static str,
    /// BIP-44 coin type for secp256k1 chains.
    coin: u32,
}

const fn evm(
    id: &'static str,
    name: &'static str,
    chain_id: u64,
    symbol: &'static str,
    testnet: bool,
) -> Info {
    Info {
        id,
        name,
        family: Family::Evm,
        testnet,
        evm_chain_id: Some(chain_id),
        symbol,
        coin: 60,
    }
}

const fn other(
    id: &'static str,
    name: &'static str,
    family: Family,
    testnet: bool,
    symbol: &'static str,
    coin: u32,
) -> Info {
    Info {
        id,
        name,
        family,
        testnet,
        evm_chain_id: None,
        symbol,
        coin,
    }
}

static INFO: [Info; 18] = [
    evm("ETH", "Ethereum", 1, "ETH", false),
    evm("ETH-SEPOLIA", "Ethereum Sepolia", 11155111, "ETH", true),
    evm("BASE", "Base", 8453, "ETH", false),
    evm("BASE-SEPOLIA", "Base Sepolia", 84532, "ETH", true),
    evm("ARB", "Arbitrum One", 42161, "ETH", false),
    evm("ARB-SEPOLIA", "Arbitrum Sepolia", 421614, "ETH", true),
    evm("OP", "OP Mainnet", 10, "ETH", false),
    evm("OP-SEPOLIA", "OP Sepolia", 11155420, "ETH", true),
    evm("POL", "Polygon", 137, "POL", false),
    evm("POL-AMOY", "Polygon Amoy", 80002, "POL", true),
    evm("BSC", "BNB Smart Chain", 56, "BNB", false),
    evm("BSC-TESTNET", "BNB Smart Chain Testnet", 97, "BNB", true),
    other("BTC", "Bitcoin", Family::Bitcoin, false, "BTC", 0),
    other(
        "BTC-TESTNET",
        "Bitcoin Testnet",
        Family::Bitcoin,
        true,
        "BTC",
        1,
    ),
    other("SOL", "Solana", Family::Solana, false, "SOL", 501),
    other(
        "SOL-DEVNET",
        "Solana Devnet",
        Family::Solana,
        true,
        "SOL",
        501,
    ),
    other("NEAR", "NEAR", Family::Near, false, "NEAR", 397),
    other(
        "NEAR-TESTNET",
        "NEAR Testnet",
        Family::Near,
        true,
        "NEAR",
        397,
    ),
];

static ALL: [Chain; 18] = {
    let mut out = [Chain(0); 18];
    let mut i = 0;
    while i < 18 {
        out[i] = Chain(i as u8);
        i += 1;
    }
    out
};

/// One chain of the API. Only [`Chain::parse`] and [`Chain::all`] make one, so a `Chain`
/// always names a supported chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chain(u8);

impl Chain {
    /// Parses an API chain id (`"ETH"`, `"ETH-SEPOLIA"`, ...): exact and case-sensitive.
    pub fn parse(id: &str) -> Result<Chain, ChainError> {
        INFO.iter()
            .position(|c| c.id == id)
            .map(|i| ALL[i])
            .ok_or_else(|| ChainError::UnsupportedChain(id.chars().take(64).collect()))
    }

    /// Every supported chain, in API.md's order.
    pub fn all() -> &'static [Chain] {
        &ALL
    }

    fn info(self) -> &'static Info {
        &INFO[usize::from(self.0)]
    }

    /// The API id, e.g. `"BASE-SEPOLIA"`.
    pub fn id(self) -> &'static str {
        self.info().id
    }

    /// The chain family.
    pub fn family(self) -> Family {
        self.info().family
    }

    /// The curve of this chain's wallet keys.
    pub fn curve(self) -> Curve {
        match self.family() {
            Family::Evm | Family::Bitcoin => Curve::Secp256k1,
            Family::Solana | Family::Near => Curve::Ed25519,
        }
    }

    /// True for test networks.
    pub fn is_testnet(self) -> bool {
        self.info().testnet
    }

    /// The EIP-155 chain id of an EVM chain; `None` elsewhere.
    pub fn evm_chain_id(self) -> Option<u64> {
        self.info().evm_chain_id
    }

    /// A human name, e.g. `"Base Sepolia"`.
    pub fn display_name(self) -> &'static str {
        self.info().name
    }

    /// The native asset's symbol (testnets use the mainnet symbol).
    pub fn native_symbol(self) -> &'static str {
        self.info().symbol
    }

    /// The BIP-44 coin type (60 EVM, 0 BTC, 1 BTC-TESTNET, 501 SOL, 397 NEAR).
    pub fn coin_type(self) -> u32 {
        self.info().coin
    }

    /// The wallet's derivation path from the set's master key. secp256k1 wallets are
    /// non-hardened children `m/44/{coin}/0/{index}` (so every EVM chain shares one address per
    /// index); ed25519 wallets have their own DKG key, so their path is the master itself, `m`.
    pub fn derivation_path(self, index: u32) -> String {
        match self.curve() {
            Curve::Secp256k1 => format!("m/44/{}/0/{index}", self.coin_type()),
            Curve::Ed25519 => "m".to_owned(),
        }
    }
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Chain({})", self.id())
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl std::str::FromStr for Chain {
    type Err = ChainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Chain::parse(s)
    }
}
