//! Recovery by security questions: how answers are normalized, the
//! exact bytes that are hashed, and the hint rule. The hash then goes through the same
//! Argon2id + OPRF-with-Node-2 path as a PIN ([`crate::pin`]), under the factor
//! [`Factor::Questions`](crate::pin::Factor) (its own OPRF key, counter and unlock key).
//!
//! ```text
//! norm(a)  = collapse_ws(NFKC(lowercase(NFKC(a))))
//! input    = lp("planbok/recovery/answers/v1") ‖ for each question i, in order:
//!              lp(key_i) ‖ lp(norm(answer_i))
//!            key_i = the catalog id, or "custom:" ‖ norm(custom text)
//! h_rec    = Argon2id(input, salt_rec; KdfParams v1)
//! ```
//!
//! Pure: no IO.

use unicode_normalization::UnicodeNormalization as _;
use zeroize::Zeroizing;

use crate::put_lp;

/// How many questions a customer answers: three. Two answers to common questions
/// (a pet, a city) are often guessable within a handful of tries; three make Node 2's
/// attempt limit the bound that matters, and more would make recovery itself fail.
pub const QUESTION_COUNT: usize = 3;
/// An answer, after normalization, has at least this many characters.
pub const MIN_ANSWER_CHARS: usize = 2;
/// And at most this many.
pub const MAX_ANSWER_CHARS: usize = 200;
/// A custom question's text or a hint: at most this many characters.
pub const MAX_TEXT_CHARS: usize = 200;

const DOMAIN: &[u8] = b"planbok/recovery/answers/v1";

/// A catalog question id as hashed: 1 to 40 of `a-z`, `0-9`, `_`. Which ids exist is the
/// API's contract (`planbok_api::customers::QUESTION_CATALOG`), checked by the client and
/// the server; here only the shape matters, since the id is hashed with the answer.
fn id_shape_ok(id: &str) -> bool {
    (1..=40).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Why a set of questions, answers or hints is refused. Never carries an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    /// Not exactly [`QUESTION_COUNT`] questions (or answers).
    #[error("exactly {QUESTION_COUNT} questions and answers are needed")]
    Count,
    /// A question is neither a catalog id nor a custom text, or is there twice.
    #[error("question {0}: {1}")]
    Question(usize, &'static str),
    /// An answer is too short or too long after normalization, or repeats another.
    #[error("answer {0}: {1}")]
    Answer(usize, &'static str),
    /// A hint contains an answer (or is too long).
    #[error("hint {0}: {1}")]
    Hint(usize, &'static str),
}

/// Lowercase (Unicode's full lowercase mapping, `str::to_lowercase`) between two NFKC
/// passes, then every run of Unicode whitespace collapsed to one space and the ends
/// trimmed. Not Unicode *full* case folding: `ß` stays `ß` (it does not become `ss`).
pub fn normalize(s: &str) -> Zeroizing<String> {
    let nfkc = Zeroizing::new(s.nfkc().collect::<String>());
    let lower = Zeroizing::new(nfkc.to_lowercase());
    let again = Zeroizing::new(lower.nfkc().collect::<String>());
    let mut out = Zeroizing::new(String::with_capacity(again.len()));
    for word in again.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// One question as chosen: a catalog id, or a custom text; an optional hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// A catalog id (then `custom` is `None`).
    pub id: Option<String>,
    /// A custom question's text.
    pub custom: Option<String>,
    /// Shown with the question at recovery.
    pub hint: Option<String>,
}

impl Question {
    /// What is hashed with the answer: the id, or `custom:` and the normalized text.
    fn key(&self, index: usize) -> Result<Vec<u8>, RecoveryError> {
        match (&self.id, &self.custom) {
            (Some(id), None) => {
                if !id_shape_ok(id) {
                    return Err(RecoveryError::Question(index, "malformed question id"));
                }
                Ok(id.as_bytes().to_vec())
            }
            (None, Some(text)) => {
                let n = normalize(text);
                if n.chars().count() < 5 || text.chars().count() > MAX_TEXT_CHARS {
                    return Err(RecoveryError::Question(
                        index,
                        "a custom question has 5 to 200 characters",
                    ));
                }
                Ok([b"custom:".as_slice(), n.as_bytes()].concat())
            }
            _ => Err(RecoveryError::Question(
                index,
                "a question is either a catalog id or a custom text",
            )),
        }
    }
}

/// Checks a set of questions (at setup: with hints); returns their hashed keys.
pub fn check_questions(questions: &[Question]) -> Result<Vec<Vec<u8>>, RecoveryError> {
    if questions.len() != QUESTION_COUNT {
        return Err(RecoveryError::Count);
    }
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for (i, q) in questions.iter().enumerate() {
        let k = q.key(i + 1)?;
        if keys.contains(&k) {
            return Err(RecoveryError::Question(i + 1, "asked twice"));
        }
        if q.hint
            .as_deref()
            .is_some_and(|h| h.chars().count() > MAX_TEXT_CHARS)
        {
            return Err(RecoveryError::Hint(i + 1, "at most 200 characters"));
        }
        keys.push(k);
    }
    Ok(keys)
}

/// The bytes Argon2id hashes for `answers` to `questions` (in order). At setup also call
/// [`check_hints`].
pub fn answers_input(
    questions: &[Question],
    answers: &[&str],
) -> Result<Zeroizing<Vec<u8>>, RecoveryError> {
    let keys = check_questions(questions)?;
    if answers.len() != QUESTION_COUNT {
        return Err(RecoveryError::Count);
    }
    let mut normalized: Vec<Zeroizing<String>> = Vec::new();
    for (i, a) in answers.iter().enumerate() {
        let n = normalize(a);
        let chars = n.chars().count();
        if chars < MIN_ANSWER_CHARS {
            return Err(RecoveryError::Answer(i + 1, "at least 2 characters"));
        }
        if chars > MAX_ANSWER_CHARS {
            return Err(RecoveryError::Answer(i + 1, "at most 200 characters"));
        }
        normalized.push(n);
    }
    let mut out = Zeroizing::new(Vec::new());
    put_lp(&mut out, DOMAIN);
    for (k, a) in keys.iter().zip(&normalized) {
        put_lp(&mut out, k);
        put_lp(&mut out, a.as_bytes());
    }
    Ok(out)
}

/// At setup: the answers are not all the same, and no hint contains any answer (both
/// normalized). The server never sees an answer, so only the client can check this.
pub fn check_hints(questions: &[Question], answers: &[&str]) -> Result<(), RecoveryError> {
    let normalized: Vec<Zeroizing<String>> = answers.iter().map(|a| normalize(a)).collect();
    if normalized.len() == QUESTION_COUNT && normalized.iter().all(|a| *a == normalized[0]) {
        return Err(RecoveryError::Answer(2, "every answer is the same"));
    }
    for (i, q) in questions.iter().enumerate() {
        let Some(h) = &q.hint else { continue };
        let h = normalize(h);
        let squeezed: String = h.chars().filter(|c| !c.is_whitespace()).collect();
        for a in &normalized {
            let a_squeezed: String = a.chars().filter(|c| !c.is_whitespace()).collect();
            if !a.is_empty() && (h.contains(a.as_str()) || squeezed.contains(&a_squeezed)) {
                return Err(RecoveryError::Hint(i + 1, "contains an answer"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    fn q(id: &str) -> Question {
        Question {
            id: Some(id.into()),
            custom: None,
            hint: None,
        }
    }

    fn three() -> Vec<Question> {
        vec![q("first_pet"), q("birth_city"), q("first_school")]
    }

    #[test]
    fn normalization_is_nfkc_lowercase_and_collapsed_whitespace() {
        assert_eq!(
            normalize("  Rex\t the\n\u{00a0}DOG ").as_str(),
            "rex the dog"
        );
        // NFKC: the full-width and the composed forms are the plain ones.
        assert_eq!(normalize("ＲＥＸ").as_str(), "rex");
        assert_eq!(
            normalize("Zu\u{0308}rich").as_str(),
            normalize("Zürich").as_str()
        );
        assert_eq!(normalize("ÉCOLE").as_str(), "école");
        // Lowercase, not full case folding: ß stays.
        assert_eq!(normalize("STRAßE").as_str(), "straße");
    }

    #[test]
    fn equivalent_answers_hash_alike_and_others_do_not() {
        let a = answers_input(&three(), &["Rex", "Zürich", "St. Mary's"]).unwrap();
        let b = answers_input(&three(), &[" rex ", "ZU\u{0308}RICH", "st.  mary's"]).unwrap();
        assert_eq!(*a, *b);
        let c = answers_input(&three(), &["Rex", "Zurich", "St. Mary's"]).unwrap();
        assert_ne!(*a, *c);
        // Swapping two answers between questions changes the input.
        let d = answers_input(&three(), &["Zürich", "Rex", "St. Mary's"]).unwrap();
        assert_ne!(*a, *d);
        // Another question, the same answers: another input.
        let other = vec![q("first_pet"), q("birth_city"), q("first_car")];
        let e = answers_input(&other, &["Rex", "Zürich", "St. Mary's"]).unwrap();
        assert_ne!(*a, *e);
    }

    #[test]
    fn refusals() {
        assert_eq!(
            answers_input(&three()[..2], &["ab", "cd"]).unwrap_err(),
            RecoveryError::Count
        );
        assert!(matches!(
            answers_input(&three(), &["ab", "c", "de"]),
            Err(RecoveryError::Answer(2, _))
        ));
        let dup = vec![q("first_pet"), q("first_pet"), q("first_car")];
        assert!(matches!(
            check_questions(&dup),
            Err(RecoveryError::Question(2, _))
        ));
        assert!(check_questions(&[q("No pe"), q("first_pet"), q("first_car")]).is_err());
        let custom = Question {
            id: None,
            custom: Some("Name of my first bicycle?".into()),
            hint: Some("it was red".into()),
        };
        let qs = vec![custom.clone(), q("first_pet"), q("first_car")];
        check_hints(&qs, &["Speedy", "Rex", "Fiat Uno"]).unwrap();
        let mut leaky = qs.clone();
        leaky[0].hint = Some("SPEEDY gonzales".into());
        assert!(matches!(
            check_hints(&leaky, &["Speedy", "Rex", "Fiat Uno"]),
            Err(RecoveryError::Hint(1, _))
        ));
        leaky[0].hint = Some("fiatuno".into());
        assert!(check_hints(&leaky, &["Speedy", "Rex", "Fiat Uno"]).is_err());
        assert!(check_hints(&qs, &["same", "Same", "SAME"]).is_err());
        let both = Question {
            id: Some("first_pet".into()),
            custom: Some("x".into()),
            hint: None,
        };
        assert!(check_questions(&[both, q("birth_city"), q("first_car")]).is_err());
    }
}
