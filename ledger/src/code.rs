//! The rulebook's rejection codes (DOMAIN.md R9, and R11 for governance). They are stable: receipts, the CLI and
//! the HTTP API carry them by name, and their binary form is their index in this list,
//! so new codes are only ever appended.

use std::fmt;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

macro_rules! codes {
    ($($name:ident),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Encode, Decode, utoipa::ToSchema)]
        pub enum Code { $($name),* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$name),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$name => stringify!($name)),* }
            }
        }

        impl std::str::FromStr for Code {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $(stringify!($name) => Ok(Code::$name),)* _ => Err(()) }
            }
        }
    };
}

codes!(
    Unauthorized,
    UnknownParty,
    UnknownProgramme,
    UnknownPolicy,
    UnknownLoan,
    UnknownClaim,
    UnknownFund,
    DuplicateId,
    SharesMustSumTo10000,
    InvalidField,
    ProgrammeNotActive,
    EnterpriseFlagged,
    LoanAboveCap,
    TermTooLong,
    RateAboveCap,
    RateNotFiled,
    AllInCostAboveCap,
    DocumentAlreadyFinanced,
    FundInsufficient,
    Overpayment,
    NotEligible,
    DuplicateClaim,
    ClaimNotOpen,
    DocumentsAlreadyRequested,
    RecoveryExceedsLoss,
    Overflow,
    // R11: governance.
    NotApproved,
    UnknownValidator,
    DuplicateKey,
    NoValidators,
    TooManyValidators,
    // R12: protocol versions.
    UpgradePending,
    UnknownUpgrade,
    // R13: version 2.
    ObligorLimitExceeded,
    // R14: version 3.
    NotAttested,
    UnknownAttestation,
    // Keys.
    WrongAlgorithm,
);

impl Code {
    /// What the code means, in a sentence (DOMAIN.md R9 and the rules that give it).
    pub fn meaning(self) -> &'static str {
        match self {
            Code::Unauthorized => "a signer the rule requires is missing",
            Code::UnknownParty => "an organisation named is unknown, of the wrong kind, or not a party to the programme",
            Code::UnknownProgramme => "no such programme",
            Code::UnknownPolicy => "no such policy",
            Code::UnknownLoan => "no such loan",
            Code::UnknownClaim => "no such claim",
            Code::UnknownFund => "no such fund",
            Code::DuplicateId => "a record with this id already exists",
            Code::SharesMustSumTo10000 => "the loss split does not add up to 10000 bps",
            Code::InvalidField => "a field is missing, of the wrong type or out of range",
            Code::ProgrammeNotActive => "the programme is suspended or outside its period",
            Code::EnterpriseFlagged => "the enterprise is flagged",
            Code::LoanAboveCap => "the loan is larger than the programme allows",
            Code::TermTooLong => "the term is longer than the programme allows",
            Code::RateAboveCap => "the premium rate is above the programme's cap",
            Code::RateNotFiled => "the premium rate is not a filed rate in force (报行合一)",
            Code::AllInCostAboveCap => "loan rate plus premium rate is above the all-in cap",
            Code::DocumentAlreadyFinanced => "the financing document already backs a policy",
            Code::FundInsufficient => "the fund's balance cannot pay the upfront subsidy",
            Code::Overpayment => "the repayment is more than is owed",
            Code::NotEligible => "the loan is not past due long enough to claim",
            Code::DuplicateClaim => "the loan already has a claim",
            Code::ClaimNotOpen => "the claim is not in a state that allows this step",
            Code::DocumentsAlreadyRequested => "documents were already requested once",
            Code::RecoveryExceedsLoss => "recoveries would exceed the loss",
            Code::Overflow => "an amount overflowed the arithmetic",
            Code::NotApproved => "the governance rule's approvals are not all present",
            Code::UnknownValidator => "no such validator",
            Code::DuplicateKey => "the organisation id or key was used before",
            Code::NoValidators => "the change would leave no validator",
            Code::TooManyValidators => "the change would exceed the validator limit",
            Code::UpgradePending => "a protocol upgrade is already scheduled",
            Code::UnknownUpgrade => "no such protocol upgrade is pending",
            Code::ObligorLimitExceeded => {
                "the insurer's retained liability on the enterprise would exceed the single-obligor limit"
            }
            Code::NotAttested => {
                "the enterprise lacks an attestation the programme's eligibility requires"
            }
            Code::UnknownAttestation => "no such attestation",
            Code::WrongAlgorithm => "a key is not of the chain's signature algorithm",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for code in Code::ALL {
            assert_eq!(code.as_str().parse::<Code>(), Ok(*code));
        }
        assert_eq!(Code::ALL.len(), 37);
        assert_eq!(Code::ALL[36], Code::WrongAlgorithm);
        assert_eq!(Code::ALL[0], Code::Unauthorized);
        assert_eq!(Code::ALL[25], Code::Overflow);
        assert_eq!(Code::ALL[26], Code::NotApproved);
        assert_eq!(Code::ALL[30], Code::TooManyValidators);
        assert_eq!(Code::ALL[33], Code::ObligorLimitExceeded);
    }
}
