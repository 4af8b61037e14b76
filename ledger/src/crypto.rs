//! Keys and signatures: ed25519 (ed25519-dalek, `verify_strict`), with domain separation.

use std::fmt;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// An ed25519 public key: 32 bytes, hex in text form.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Encode, Decode,
)]
#[serde(try_from = "String", into = "String")]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Result<Self, hex::FromHexError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes)?;
        Ok(PublicKey(bytes))
    }
}

impl TryFrom<String> for PublicKey {
    type Error = hex::FromHexError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        PublicKey::from_hex(&value)
    }
}

impl From<PublicKey> for String {
    fn from(key: PublicKey) -> String {
        key.to_hex()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", &self.to_hex()[..16])
    }
}

/// An ed25519 signature: 64 bytes, hex in text form.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Encode, Decode,
)]
#[serde(try_from = "String", into = "String")]
pub struct Signature(pub [u8; 64]);

impl Signature {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Result<Self, hex::FromHexError> {
        let mut bytes = [0u8; 64];
        hex::decode_to_slice(text.trim(), &mut bytes)?;
        Ok(Signature(bytes))
    }
}

impl TryFrom<String> for Signature {
    type Error = hex::FromHexError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Signature::from_hex(&value)
    }
}

impl From<Signature> for String {
    fn from(sig: Signature) -> String {
        sig.to_hex()
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", &self.to_hex()[..16])
    }
}

/// Implements hex text form, `Display` and `Debug` for a 32-byte digest newtype.
macro_rules! hex_digest {
    ($name:ty) => {
        impl $name {
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            pub fn from_hex(text: &str) -> Result<Self, hex::FromHexError> {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(text.trim(), &mut bytes)?;
                Ok(Self(bytes))
            }
        }

        impl TryFrom<String> for $name {
            type Error = hex::FromHexError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::from_hex(&value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_hex()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), &self.to_hex()[..16])
            }
        }
    };
}
pub(crate) use hex_digest;
