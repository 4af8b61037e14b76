//! The rulebook's rejection codes (DOMAIN.md R9, and R11 for governance). They are stable: receipts, the CLI and
//! the HTTP API carry them by name, and their binary form is their index in this list,
//! so new codes are only ever appended.

use std::fmt;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

macro_rules! codes {
    ($($name:ident),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Encode, Decode)]
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
);

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
        assert_eq!(Code::ALL.len(), 31);
        assert_eq!(Code::ALL[0], Code::Unauthorized);
        assert_eq!(Code::ALL[25], Code::Overflow);
        assert_eq!(Code::ALL[26], Code::NotApproved);
        assert_eq!(Code::ALL[30], Code::TooManyValidators);
    }
}
