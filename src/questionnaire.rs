//! The only code that prompts: numbered questions with the current answer as the default,
//! then (after the recommendation is shown) acceptance or a choice of any paradigm. Used only
//! when stdin and stderr are terminals and `--yes` was not given. Ctrl-C or end of input is
//! `Error::Interrupted` (exit 130) and nothing is written.

use dialoguer::theme::{ColorfulTheme, SimpleTheme, Theme};
use dialoguer::{Confirm, Input, Select};

use crate::catalog::{Catalog, Paradigm};
use crate::context::{Answers, ProjectContext, QUESTIONS, Question};
use crate::error::Error;
use crate::recommend::Recommendation;

impl From<dialoguer::Error> for Error {
    fn from(_: dialoguer::Error) -> Self {
        // Every prompt failure is the terminal going away: Ctrl-C, end of input, a closed tty.
        Self::Interrupted
    }
}

fn theme() -> Box<dyn Theme> {
    if std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty()) {
        Box::new(SimpleTheme)
    } else {
        Box::new(ColorfulTheme::default())
    }
}

/// Asks the main questions, then offers the refinements; given answers are the defaults.
pub(crate) fn ask(given: Answers) -> Result<Answers, Error> {
    let theme = theme();
    let mut answers = given;
    let (main, refinements): (Vec<&Question>, Vec<&Question>) =
        QUESTIONS.iter().partition(|q| !q.refinement);
    let total = QUESTIONS.len();
    for (index, question) in main.iter().enumerate() {
        ask_one(theme.as_ref(), question, index + 1, total, &mut answers)?;
    }
    let refine = Confirm::with_theme(theme.as_ref())
        .with_prompt(format!(
            "Answer {} refinement questions (team experience, operations, audit trail, …)? Their defaults are neutral",
            refinements.len()
        ))
        .default(false)
        .interact()?;
    if refine {
        for (index, question) in refinements.iter().enumerate() {
            ask_one(
                theme.as_ref(),
                question,
                main.len() + index + 1,
                total,
                &mut answers,
            )?;
        }
    }
    Ok(answers)
}

fn ask_one(
    theme: &dyn Theme,
    question: &Question,
    number: usize,
    total: usize,
    answers: &mut Answers,
) -> Result<(), Error> {
    let current = ProjectContext::from_answers(answers).value(question.key);
    let prompt = format!("[{number}/{total}] {} — {}", question.label, question.help);
    let options = (question.options)();
    let value = if options.is_empty() {
        Input::<String>::with_theme(theme)
            .with_prompt(prompt)
            .default(current)
            .interact_text()?
    } else {
        let items: Vec<&str> = options.iter().map(|(_, described)| *described).collect();
        let default = options
            .iter()
            .position(|(value, _)| *value == current)
            .unwrap_or(0);
        let chosen = Select::with_theme(theme)
            .with_prompt(prompt)
            .items(&items)
            .default(default)
            .interact()?;
        options[chosen].0.to_owned()
    };
    // Values offered by the prompt always parse; free text is checked like a flag.
    answers
        .set(question.key, &value)
        .map_err(|source| Error::BadAnswers {
            path: "(prompt)".into(),
            source,
        })
}

/// Asks whether to accept the recommendation; on "no", lets the user pick any paradigm.
/// `None` means accepted.
pub(crate) fn confirm(catalog: &Catalog, rec: &Recommendation) -> Result<Option<Paradigm>, Error> {
    let theme = theme();
    let accept = Confirm::with_theme(theme.as_ref())
        .with_prompt(format!(
            "Accept this recommendation ({})?",
            rec.primary.name()
        ))
        .default(true)
        .interact()?;
    if accept {
        return Ok(None);
    }
    let entries = catalog.entries();
    let items: Vec<String> = entries
        .iter()
        .map(|entry| {
            format!(
                "{:<26} score {:>4}",
                entry.name,
                rec.score_of(entry.id).total
            )
        })
        .collect();
    let default = entries
        .iter()
        .position(|entry| entry.id == rec.primary)
        .unwrap_or(0);
    let chosen = Select::with_theme(theme.as_ref())
        .with_prompt("Choose the paradigm to use")
        .items(&items)
        .default(default)
        .interact()?;
    Ok(Some(entries[chosen].id))
}
