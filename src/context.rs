//! The answers about a project: the closed sets users choose from, the `QUESTIONS` in the
//! order they are asked, and `ProjectContext`, the complete set of answers the rest of the
//! pipeline decides from. Answers come in partially (`Answers`, from flags, files or prompts)
//! and are completed with documented defaults; this module never prompts or touches disk.
//! The refinement questions after the first eight all default to a neutral value that
//! contributes nothing to any score.

pub mod answers;
pub mod choice;
mod values;

pub use answers::{Answer, AnswersError};
pub use choice::{Choice, ChoiceError};
pub use values::{
    AuditTrail, Complexity, Consistency, DataFlow, Extensibility, Language, Lifespan, OpsMaturity,
    ProjectType, Scalability, Security, TeamExperience, TeamSize, TimeToMarket, Workload,
};

/// One question: its answers-file key, label, flag, help, and whether it is a refinement.
/// The command line's answer flags are made from these (`cli::QuestionFlags`).
#[derive(Debug, Clone, Copy)]
pub struct Question {
    /// The snake-case key in answers files (kebab-case is accepted too).
    pub key: &'static str,
    /// The label in prompts and the ADR's context table, e.g. "Team size".
    pub label: &'static str,
    /// The command-line flag, e.g. "--team-size".
    pub flag: &'static str,
    /// The flag's value in `--help`, e.g. "SIZE".
    pub value_name: &'static str,
    /// One line of help for prompts and `--help`.
    pub help: &'static str,
    /// True for the refinements, whose defaults are neutral and may be left unasked.
    pub refinement: bool,
    /// The values to choose from with their help text; empty for free text.
    pub options: fn() -> Vec<(&'static str, &'static str)>,
    /// Checks a flag's value: its spelling as recorded, or why it is refused.
    pub parse_flag: fn(&str) -> Result<String, String>,
}

/// A flag's value as an answer of type `T`, spelled as recorded.
fn parse_flag<T: Answer>(text: &str) -> Result<String, String> {
    T::from_flag(text).map(|answer| answer.spelling())
}

impl Question {
    /// The question with this key (snake-case or kebab-case).
    #[must_use]
    pub fn find(key: &str) -> Option<&'static Question> {
        let key = key.replace('-', "_");
        QUESTIONS.iter().find(|question| question.key == key)
    }

    /// The default answer as typed.
    #[must_use]
    pub fn default_value(&self) -> String {
        ProjectContext::default().value(self.key)
    }
}

/// Writes `ProjectContext`, `Answers` and `QUESTIONS` from one table, so they cannot disagree.
macro_rules! questions {
    ($( $(#[$doc:meta])* $field:ident: $ty:ty = $default:expr,
        $label:literal, $flag:literal <$value_name:literal>, $help:literal,
        refinement = $refinement:literal; )+) => {
        /// Every answer, complete: what `recommend` and the rest of the pipeline decide from.
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub struct ProjectContext {
            $( $(#[$doc])* pub $field: $ty, )+
        }

        impl Default for ProjectContext {
            fn default() -> Self {
                Self { $( $field: $default, )+ }
            }
        }

        /// Answers as given so far (file, flags, prompts); `None` means "use the default".
        #[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
        pub struct Answers {
            $(
                $(#[$doc])*
                #[serde(skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )+
        }

        /// Every question, in the order they are asked and shown.
        pub const QUESTIONS: &[Question] = &[$(
            Question {
                key: stringify!($field),
                label: $label,
                flag: $flag,
                value_name: $value_name,
                help: $help,
                refinement: $refinement,
                options: <$ty as Answer>::options,
                parse_flag: parse_flag::<$ty>,
            },
        )+];

        impl Answers {
            /// These answers with every answer given in `over` replacing ours.
            #[must_use]
            pub fn overlay(self, over: Answers) -> Answers {
                Answers { $( $field: over.$field.or(self.$field), )+ }
            }

            /// Sets the answer for the snake-case `key`; `None` if no question has that key,
            /// otherwise the reason the value is not acceptable.
            fn set_value(&mut self, key: &str, value: &serde_json::Value) -> Option<Result<(), String>> {
                match key {
                    $( stringify!($field) => Some(<$ty as Answer>::from_value(value).map(|v| {
                        self.$field = Some(v);
                    })), )+
                    _ => None,
                }
            }
        }

        impl ProjectContext {
            /// The given answers, completed with the defaults.
            #[must_use]
            pub fn from_answers(answers: &Answers) -> ProjectContext {
                let defaults = ProjectContext::default();
                ProjectContext {
                    $( $field: answers.$field.clone().unwrap_or(defaults.$field), )+
                }
            }

            /// Every answer, given explicitly, for recording what was decided from.
            #[must_use]
            pub fn to_answers(&self) -> Answers {
                Answers { $( $field: Some(self.$field.clone()), )+ }
            }

            /// The answer to the question with this snake-case key, as typed; empty if none.
            #[must_use]
            pub fn value(&self, key: &str) -> String {
                match key {
                    $( stringify!($field) => Answer::spelling(&self.$field), )+
                    _ => String::new(),
                }
            }
        }
    };
}

questions! {
    /// What kind of software is being built.
    project_type: ProjectType = ProjectType::WebApi,
        "Project type", "--project-type" <"TYPE">,
        "What are you building?", refinement = false;
    /// How intricate the business rules are.
    complexity: Complexity = Complexity::Complex,
        "Domain complexity", "--complexity" <"LEVEL">,
        "How intricate are the business rules?", refinement = false;
    /// How many people build and run it.
    team_size: TeamSize = TeamSize::Medium,
        "Team size", "--team-size" <"SIZE">,
        "How many people will build and run it?", refinement = false;
    /// The implementation language.
    language: Language = Language::Rust,
        "Language", "--language" <"LANG">,
        "Which language? (only rust is rendered)", refinement = false;
    /// The web or application framework, free text.
    framework: String = String::from("axum"),
        "Framework", "--framework" <"NAME">,
        "Which framework? (free text)", refinement = false;
    /// How many users it must serve.
    scalability: Scalability = Scalability::Moderate,
        "Scalability", "--scalability" <"LEVEL">,
        "How many users must it serve?", refinement = false;
    /// How much harm a breach would do.
    security: Security = Security::Standard,
        "Security", "--security" <"LEVEL">,
        "How sensitive is the data?", refinement = false;
    /// How soon the first version must ship.
    time_to_market: TimeToMarket = TimeToMarket::Normal,
        "Time to market", "--time-to-market" <"PACE">,
        "How soon must the first version ship?", refinement = false;
    /// How experienced the team is with architecture patterns.
    team_experience: TeamExperience = TeamExperience::Mixed,
        "Team experience", "--team-experience" <"LEVEL">,
        "How experienced is the team with these patterns?", refinement = true;
    /// What the team can operate.
    ops_maturity: OpsMaturity = OpsMaturity::Established,
        "Operations maturity", "--ops-maturity" <"LEVEL">,
        "What can the team operate today?", refinement = true;
    /// How long the system will live and change.
    lifespan: Lifespan = Lifespan::Typical,
        "Expected lifespan", "--lifespan" <"SPAN">,
        "How long will the system live and change?", refinement = true;
    /// Whether transactions tolerate eventual consistency.
    consistency: Consistency = Consistency::EventualOk,
        "Consistency", "--consistency" <"NEED">,
        "Must transactions be strongly consistent?", refinement = true;
    /// Whether every change must be kept as history.
    audit_trail: AuditTrail = AuditTrail::None,
        "Audit trail", "--audit-trail" <"NEED">,
        "Must every change be kept and replayable?", refinement = true;
    /// The shape of the load over time.
    workload: Workload = Workload::Steady,
        "Workload", "--workload" <"SHAPE">,
        "What does the load look like over time?", refinement = true;
    /// How data moves through the system.
    data_flow: DataFlow = DataFlow::RequestResponse,
        "Data flow", "--data-flow" <"FLOW">,
        "How does data move through the system?", refinement = true;
    /// Whether others extend the product with plugins.
    extensibility: Extensibility = Extensibility::Fixed,
        "Extensibility", "--extensibility" <"NEED">,
        "Will others extend it with plugins?", refinement = true;
}

impl ProjectContext {
    /// Parses an answers file and completes it with the defaults.
    pub fn from_toml(text: &str) -> Result<ProjectContext, AnswersError> {
        Answers::from_toml_str(text).map(|answers| Self::from_answers(&answers))
    }

    /// `(label, value as typed, flag)` for every question, in question order.
    #[must_use]
    pub fn rows(&self) -> Vec<(&'static str, String, &'static str)> {
        QUESTIONS
            .iter()
            .map(|question| (question.label, self.value(question.key), question.flag))
            .collect()
    }

    /// `(key, value as typed)` for every question, in question order.
    #[must_use]
    pub fn values(&self) -> Vec<(&'static str, String)> {
        QUESTIONS
            .iter()
            .map(|question| (question.key, self.value(question.key)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_choice_parses_back_from_its_display() {
        fn round_trip<C>()
        where
            C: Choice + std::fmt::Debug + std::fmt::Display + std::str::FromStr<Err = ChoiceError>,
        {
            for value in C::ALL {
                assert_eq!(value.to_string().parse::<C>().unwrap(), *value);
                assert_eq!(value.to_string(), value.as_str());
            }
        }
        round_trip::<ProjectType>();
        round_trip::<Complexity>();
        round_trip::<TeamSize>();
        round_trip::<Language>();
        round_trip::<Scalability>();
        round_trip::<Security>();
        round_trip::<TimeToMarket>();
        round_trip::<TeamExperience>();
        round_trip::<OpsMaturity>();
        round_trip::<Lifespan>();
        round_trip::<Consistency>();
        round_trip::<AuditTrail>();
        round_trip::<Workload>();
        round_trip::<DataFlow>();
        round_trip::<Extensibility>();
    }

    #[test]
    fn an_unknown_value_lists_every_valid_spelling() {
        let err = "huge".parse::<TeamSize>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`huge` is not one of: `<5`, `5-15`, `15-50`, `50+`"
        );
    }

    #[test]
    fn a_head_count_parses_to_its_team_size_bucket() {
        let cases = [
            ("1", Some(TeamSize::Tiny)),
            ("4", Some(TeamSize::Tiny)),
            ("5", Some(TeamSize::Small)),
            ("15", Some(TeamSize::Small)),
            ("16", Some(TeamSize::Medium)),
            ("50", Some(TeamSize::Medium)),
            ("51", Some(TeamSize::Large)),
            ("400", Some(TeamSize::Large)),
            ("0", None),
            ("-3", None),
            ("five", None),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<TeamSize>().ok(), expected, "{text}");
        }
    }

    #[test]
    fn choices_serialize_as_the_spelling_users_type() {
        let json = serde_json::to_string(&[TeamSize::Tiny, TeamSize::Large]).unwrap();
        assert_eq!(json, r#"["<5","50+"]"#);
        let back: Vec<TeamSize> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, [TeamSize::Tiny, TeamSize::Large]);
        assert!(serde_json::from_str::<TeamSize>(r#""huge""#).is_err());
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let ctx = ProjectContext::default();
        let rows: Vec<(&str, String)> = ctx.rows().into_iter().map(|(l, v, _)| (l, v)).collect();
        assert_eq!(
            rows[..8],
            [
                ("Project type", "web-api".to_owned()),
                ("Domain complexity", "complex".to_owned()),
                ("Team size", "15-50".to_owned()),
                ("Language", "rust".to_owned()),
                ("Framework", "axum".to_owned()),
                ("Scalability", "moderate".to_owned()),
                ("Security", "standard".to_owned()),
                ("Time to market", "normal".to_owned()),
            ]
        );
    }

    #[test]
    fn every_question_has_a_flag_matching_its_key_and_a_default_among_its_options() {
        for question in QUESTIONS {
            assert_eq!(
                question.flag,
                format!("--{}", question.key.replace('_', "-"))
            );
            let options = (question.options)();
            let default = question.default_value();
            assert!(
                options.is_empty() || options.iter().any(|(value, _)| *value == default),
                "{}",
                question.key
            );
        }
        assert_eq!(QUESTIONS.iter().filter(|q| !q.refinement).count(), 8);
    }

    #[test]
    fn only_rust_is_rendered() {
        let rendered: Vec<Language> = Language::ALL
            .iter()
            .copied()
            .filter(|l| l.is_rendered())
            .collect();
        assert_eq!(rendered, [Language::Rust]);
    }

    #[test]
    fn a_context_survives_a_round_trip_through_its_answers_and_json() {
        let ctx = ProjectContext::from_toml("team_size = 60\nworkload = \"bursty\"").unwrap();
        assert_eq!(ProjectContext::from_answers(&ctx.to_answers()), ctx);
        let json = serde_json::to_value(&ctx).unwrap();
        assert_eq!(json["team_size"], "50+");
        assert_eq!(serde_json::from_value::<ProjectContext>(json).unwrap(), ctx);
    }
}
