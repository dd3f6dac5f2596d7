//! How a [`ScriptedServer`](super::ScriptedServer) treats a query: answer, stall, fail,
//! or misbehave in one of the ways a client must survive.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What the server does with a query. Set for the whole server or per name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer from the zone (the default).
    #[default]
    Answer,
    /// Answer from the zone after this delay, without holding up other queries.
    Delay(Duration),
    /// Read the query and never answer (a dead server whose packets vanish).
    Blackhole,
    /// Answer SERVFAIL with no records.
    ServFail,
    /// Answer REFUSED with no records.
    Refused,
    /// Over UDP always answer with TC=1 and an empty answer section; over TCP answer
    /// in full.
    Truncate,
    /// First a reply with a wrong ID (carrying poison records), then the right one.
    WrongIdThenAnswer,
    /// First a reply whose question names another name (carrying poison records),
    /// then the right one.
    WrongQuestionThenAnswer,
    /// Only the reply with the wrong ID; the right one never comes.
    WrongIdOnly,
    /// Only the reply with the wrong question; the right one never comes.
    WrongQuestionOnly,
}

/// Error of [`Behaviour::from_str`]: the text names no behaviour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownBehaviour(pub String);

impl fmt::Display for UnknownBehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown behaviour {:?} (answer, delay:MS, blackhole, servfail, refused, truncate, \
             wrongid, wrongquestion, wrongidonly, wrongquestiononly)",
            self.0
        )
    }
}

impl std::error::Error for UnknownBehaviour {}

impl FromStr for Behaviour {
    type Err = UnknownBehaviour;

    /// Parses the command-line spelling: `answer`, `delay:MS`, `blackhole`, `servfail`,
    /// `refused`, `truncate`, `wrongid`, `wrongquestion`, `wrongidonly`,
    /// `wrongquestiononly`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        if let Some(ms) = lower.strip_prefix("delay:") {
            return ms
                .parse::<u64>()
                .map(|ms| Behaviour::Delay(Duration::from_millis(ms)))
                .map_err(|_| UnknownBehaviour(s.to_string()));
        }
        Ok(match lower.as_str() {
            "answer" => Behaviour::Answer,
            "blackhole" => Behaviour::Blackhole,
            "servfail" => Behaviour::ServFail,
            "refused" => Behaviour::Refused,
            "truncate" => Behaviour::Truncate,
            "wrongid" => Behaviour::WrongIdThenAnswer,
            "wrongquestion" => Behaviour::WrongQuestionThenAnswer,
            "wrongidonly" => Behaviour::WrongIdOnly,
            "wrongquestiononly" => Behaviour::WrongQuestionOnly,
            _ => return Err(UnknownBehaviour(s.to_string())),
        })
    }
}

impl fmt::Display for Behaviour {
    /// The spelling [`FromStr`] accepts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Behaviour::Answer => f.write_str("answer"),
            Behaviour::Delay(d) => write!(f, "delay:{}", d.as_millis()),
            Behaviour::Blackhole => f.write_str("blackhole"),
            Behaviour::ServFail => f.write_str("servfail"),
            Behaviour::Refused => f.write_str("refused"),
            Behaviour::Truncate => f.write_str("truncate"),
            Behaviour::WrongIdThenAnswer => f.write_str("wrongid"),
            Behaviour::WrongQuestionThenAnswer => f.write_str("wrongquestion"),
            Behaviour::WrongIdOnly => f.write_str("wrongidonly"),
            Behaviour::WrongQuestionOnly => f.write_str("wrongquestiononly"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_round_trips() {
        for b in [
            Behaviour::Answer,
            Behaviour::Delay(Duration::from_millis(250)),
            Behaviour::Blackhole,
            Behaviour::ServFail,
            Behaviour::Refused,
            Behaviour::Truncate,
            Behaviour::WrongIdThenAnswer,
            Behaviour::WrongQuestionThenAnswer,
            Behaviour::WrongIdOnly,
            Behaviour::WrongQuestionOnly,
        ] {
            assert_eq!(b.to_string().parse::<Behaviour>(), Ok(b));
        }
        assert!("delay:x".parse::<Behaviour>().is_err());
        assert!("nonsense".parse::<Behaviour>().is_err());
    }
}
