//! The wire and WAL encoding of the engine's messages: borsh, with a size limit on every
//! decode.
//!
//! Malachite's `borsh` features cover its generic messages once our types are borsh; two
//! of them have no borsh form (`ExtendedCommitCertificate`, inside sync responses, and
//! `ValidatorProof`), and the orphan rule forbids adding one, so they go through local
//! mirror structs here. One `Codec` impl per concrete type (a blanket impl over borsh types
//! would collide with the hand-written ones).

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use malachitebft_codec::{Codec, HasEncodedLen};
use malachitebft_core_consensus::{LivenessMsg, ProposedValue, SignedConsensusMsg};
use malachitebft_core_types::{
    ExtendedCommitCertificate, ExtendedCommitSignature, PolkaCertificate, Round, SignedMessage,
    ValidatorProof,
};
use malachitebft_engine::util::streaming::StreamMessage;
use malachitebft_sync::{RawDecidedValue, Request, Response, Status, ValueResponse};

use super::context::{Address, BlockHash, Height, ProposalPart, XinbaoContext};
use super::signing::ConsensusSignature;
pub use crate::limits::WIRE_BYTES_MAX;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{len} bytes is over the limit of {limit}")]
    TooLarge { len: usize, limit: usize },
    #[error("malformed message: {0}")]
    Malformed(#[from] std::io::Error),
}

/// The one codec for network, sync and WAL.
#[derive(Clone, Copy, Debug, Default)]
pub struct WireCodec;

fn decode_borsh<T: BorshDeserialize>(bytes: &[u8]) -> Result<T, WireError> {
    if bytes.len() > WIRE_BYTES_MAX {
        return Err(WireError::TooLarge {
            len: bytes.len(),
            limit: WIRE_BYTES_MAX,
        });
    }
    Ok(borsh::from_slice(bytes)?)
}

fn encode_borsh<T: BorshSerialize>(value: &T) -> Result<Bytes, WireError> {
    Ok(Bytes::from(borsh::to_vec(value)?))
}

macro_rules! borsh_codec {
    ($($ty:ty),* $(,)?) => {$(
        impl Codec<$ty> for WireCodec {
            type Error = WireError;

            fn decode(&self, bytes: Bytes) -> Result<$ty, WireError> {
                decode_borsh(&bytes)
            }

            fn encode(&self, msg: &$ty) -> Result<Bytes, WireError> {
                encode_borsh(msg)
            }
        }
    )*};
}

borsh_codec!(
    ProposalPart,
    SignedConsensusMsg<XinbaoContext>,
    LivenessMsg<XinbaoContext>,
    StreamMessage<ProposalPart>,
    Status<XinbaoContext>,
    Request<XinbaoContext>,
    ProposedValue<XinbaoContext>,
    PolkaCertificate<XinbaoContext>,
);

/// `ValidatorProof` on the wire.
#[derive(BorshSerialize, BorshDeserialize)]
struct WireProof {
    public_key: Vec<u8>,
    peer_id: Vec<u8>,
    signature: ConsensusSignature,
}

impl Codec<ValidatorProof<XinbaoContext>> for WireCodec {
    type Error = WireError;

    fn decode(&self, bytes: Bytes) -> Result<ValidatorProof<XinbaoContext>, WireError> {
        let proof: WireProof = decode_borsh(&bytes)?;
        Ok(ValidatorProof::new(
            proof.public_key,
            proof.peer_id,
            proof.signature,
        ))
    }

    fn encode(&self, proof: &ValidatorProof<XinbaoContext>) -> Result<Bytes, WireError> {
        encode_borsh(&WireProof {
            public_key: proof.public_key.clone(),
            peer_id: proof.peer_id.clone(),
            signature: proof.signature,
        })
    }
}

/// `ExtendedCommitCertificate` on the wire. Extensions are disabled, but a signed empty
/// extension still has a signature, which is kept.
#[derive(BorshSerialize, BorshDeserialize)]
pub(crate) struct WireCertificate {
    height: Height,
    round: Round,
    value_id: BlockHash,
    signatures: Vec<WireCommitSignature>,
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WireCommitSignature {
    address: Address,
    signature: ConsensusSignature,
    extension: Option<ConsensusSignature>,
}

impl From<&ExtendedCommitCertificate<XinbaoContext>> for WireCertificate {
    fn from(cert: &ExtendedCommitCertificate<XinbaoContext>) -> Self {
        WireCertificate {
            height: cert.height,
            round: cert.round,
            value_id: cert.value_id,
            signatures: cert
                .commit_signatures
                .iter()
                .map(|s| WireCommitSignature {
                    address: s.address,
                    signature: s.signature,
                    extension: s.extension.as_ref().map(|e| e.signature),
                })
                .collect(),
        }
    }
}

impl From<WireCertificate> for ExtendedCommitCertificate<XinbaoContext> {
    fn from(cert: WireCertificate) -> Self {
        ExtendedCommitCertificate {
            height: cert.height,
            round: cert.round,
            value_id: cert.value_id,
            commit_signatures: cert
                .signatures
                .into_iter()
                .map(|s| {
                    ExtendedCommitSignature::new(
                        s.address,
                        s.signature,
                        s.extension.map(|sig| SignedMessage::new((), sig)),
                    )
                })
                .collect(),
        }
    }
}

/// A sync response on the wire.
#[derive(BorshSerialize, BorshDeserialize)]
struct WireResponse {
    start_height: Height,
    values: Vec<(Vec<u8>, WireCertificate)>,
}

impl Codec<Response<XinbaoContext>> for WireCodec {
    type Error = WireError;

    fn decode(&self, bytes: Bytes) -> Result<Response<XinbaoContext>, WireError> {
        let wire: WireResponse = decode_borsh(&bytes)?;
        let values = wire
            .values
            .into_iter()
            .map(|(value, cert)| RawDecidedValue::new(Bytes::from(value), cert.into()))
            .collect();
        Ok(Response::ValueResponse(ValueResponse::new(
            wire.start_height,
            values,
        )))
    }

    fn encode(&self, response: &Response<XinbaoContext>) -> Result<Bytes, WireError> {
        let Response::ValueResponse(response) = response;
        encode_borsh(&WireResponse {
            start_height: response.start_height,
            values: response
                .values
                .iter()
                .map(|v| {
                    (
                        v.value_bytes.to_vec(),
                        WireCertificate::from(&v.certificate),
                    )
                })
                .collect(),
        })
    }
}

impl HasEncodedLen<Response<XinbaoContext>> for WireCodec {
    fn encoded_len(&self, response: &Response<XinbaoContext>) -> Result<usize, WireError> {
        Ok(Codec::<Response<XinbaoContext>>::encode(self, response)?.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use malachitebft_core_types::NilOrVal;

    #[test]
    fn response_round_trips() {
        let cert = ExtendedCommitCertificate::<XinbaoContext> {
            height: Height(7),
            round: Round::new(1),
            value_id: BlockHash([3; 32]),
            commit_signatures: vec![ExtendedCommitSignature::new(
                Address(ledger::crypto::PublicKey::Ed25519([1; 32])),
                ConsensusSignature([2; 64]),
                None,
            )],
        };
        let response = Response::ValueResponse(ValueResponse::new(
            Height(7),
            vec![RawDecidedValue::new(Bytes::from_static(b"block"), cert)],
        ));
        let bytes = WireCodec.encode(&response).unwrap();
        let back: Response<XinbaoContext> = WireCodec.decode(bytes).unwrap();
        assert_eq!(back, response);
        let _ = NilOrVal::<BlockHash>::Nil;
    }

    #[test]
    fn oversized_input_is_refused() {
        let bytes = Bytes::from(vec![0u8; WIRE_BYTES_MAX + 1]);
        let result: Result<ProposalPart, _> = WireCodec.decode(bytes);
        assert!(matches!(result, Err(WireError::TooLarge { .. })));
    }
}
