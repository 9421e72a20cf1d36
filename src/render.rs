//! Templates + the serialized decision and model → `FilePlan`, entirely in memory. Files
//! ending in `.tera` are rendered (the suffix dropped); others are copied byte for byte, so
//! files with `{{ }}` of their own (workflows) come out unchanged. Files under
//! `services/__unit__/` are instantiated once per service; files under a unit's own directory
//! exist only when the model has that unit and override the per-service ones.

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error as _;

use serde_json::Value;
use tera::Tera;

use crate::error::Error;
use crate::plan::FilePlan;
use crate::templates::{Origin, TERA_SUFFIX, Template, TemplateSet};

/// The unit that runs every other unit in one process; rendered whenever units are.
pub(crate) const DEVSTACK: &str = "devstack";

/// The directory whose files are instantiated for every service.
pub(crate) const PER_SERVICE: &str = "services/__unit__/";

/// Where a modular monolith's modules go: the crates of the services (and of the gateway, its
/// front door) as libraries, without what only a deployable unit has.
pub(crate) const MODULES_DIR: &str = "modules/";

/// What the model makes exist: which units get files, and whether the workspace is rendered.
#[derive(Debug, Clone, Default)]
pub(crate) struct RenderScope {
    /// Each service's name and its serialized unit, bound to `unit` in its templates.
    pub(crate) services: Vec<(String, Value)>,
    /// Top-level unit directories (the gateway, the devstack) and their unit, if any.
    pub(crate) units: Vec<(String, Value)>,
    /// Crates rendered as modules of one unit, under `modules/`: each service's or top-level
    /// unit's directory but its `Dockerfile` and `src/main.rs`, with what it sees as `unit`.
    pub(crate) modules: Vec<(String, Value)>,
    /// Whether files outside `docs/adr/` and `README.md` are rendered at all.
    pub(crate) workspace: bool,
}

impl RenderScope {
    /// Every unit that gets files, by name, with what its templates see as `unit`.
    #[must_use]
    pub(crate) fn units(&self) -> Vec<(&str, &Value)> {
        self.services
            .iter()
            .chain(&self.units)
            .chain(&self.modules)
            .map(|(name, unit)| (name.as_str(), unit))
            .collect()
    }
}

/// A template set and its Tera templates, parsed as far as a run needs them: all of them up
/// front when the set has an overlay (`compile`: its errors are bad input, reported before any
/// question), otherwise only those a run renders, when it renders them (`deferred`).
pub struct Compiled {
    templates: TemplateSet,
    tera: Option<Tera>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tera's own state is the parsed form of `templates`; the paths say what is in it.
        f.debug_struct("Compiled")
            .field(
                "templates",
                &self.templates.files.keys().collect::<Vec<_>>(),
            )
            .field("parsed", &self.tera.is_some())
            .finish_non_exhaustive()
    }
}

/// Parses every template now; a syntax error in an overlay is bad input, reported before any
/// question is asked.
pub fn compile(templates: TemplateSet) -> Result<Compiled, Error> {
    let tera = parse(&templates, |_| true)?;
    Ok(Compiled {
        templates,
        tera: Some(tera),
    })
}

/// Leaves the parsing to the render, which parses only the templates it renders: for the
/// built-in set, whose every template a test keeps parseable.
#[must_use]
pub fn deferred(templates: TemplateSet) -> Compiled {
    Compiled {
        templates,
        tera: None,
    }
}

impl Compiled {
    /// The templates, parsed or not.
    #[must_use]
    pub(crate) fn templates(&self) -> &TemplateSet {
        &self.templates
    }
}

/// Renders every template in scope with `context` (an object; `unit` is added per unit).
pub(crate) fn render(
    compiled: &Compiled,
    scope: &RenderScope,
    context: &Value,
) -> Result<FilePlan, Error> {
    let layout = Layout::new(&compiled.templates, scope);
    let mut plan = layout.copies();
    plan.extend(layout.render(compiled, context)?);
    Ok(plan)
}

/// Where every template goes for a scope: each output path, the template it comes from and
/// the unit it is rendered for. A file under a unit's own directory replaces the per-service
/// one at the same path.
#[derive(Debug)]
pub(crate) struct Layout<'a> {
    outputs: BTreeMap<String, Output<'a>>,
}

#[derive(Debug)]
struct Output<'a> {
    name: &'a str,
    template: &'a Template,
    unit: Option<&'a Value>,
}

impl<'a> Layout<'a> {
    /// Every output of `templates` for `scope`.
    #[must_use]
    pub(crate) fn new(templates: &'a TemplateSet, scope: &'a RenderScope) -> Self {
        let (generic, specific): (Vec<_>, Vec<_>) = templates
            .files
            .iter()
            .partition(|(path, _)| path.starts_with(PER_SERVICE));
        let mut outputs = BTreeMap::new();
        for (name, template) in generic.into_iter().chain(specific) {
            for (out_path, unit) in instances(name, scope) {
                let out_path = match out_path.strip_suffix(TERA_SUFFIX) {
                    Some(stripped) => stripped.to_owned(),
                    None => out_path,
                };
                outputs.insert(
                    out_path,
                    Output {
                        name,
                        template,
                        unit,
                    },
                );
            }
        }
        Self { outputs }
    }

    /// The files copied byte for byte: known without rendering anything.
    #[must_use]
    pub(crate) fn copies(&self) -> FilePlan {
        let mut plan = FilePlan::default();
        for (path, output) in &self.outputs {
            if !output.name.ends_with(TERA_SUFFIX) {
                plan.insert(
                    path.clone(),
                    output.template.source.clone(),
                    output.template.mode,
                );
            }
        }
        plan
    }

    /// The files rendered with Tera, with `context`; parses what `compiled` has not.
    pub(crate) fn render(&self, compiled: &Compiled, context: &Value) -> Result<FilePlan, Error> {
        let rendered: Vec<(&String, &Output<'_>)> = self
            .outputs
            .iter()
            .filter(|(_, output)| output.name.ends_with(TERA_SUFFIX))
            .collect();
        let parsed;
        let tera = if let Some(tera) = &compiled.tera {
            tera
        } else {
            let needed = with_references(
                &compiled.templates,
                rendered.iter().map(|(_, output)| output.name).collect(),
            );
            parsed = parse(&compiled.templates, |name| needed.contains(name))?;
            &parsed
        };
        // One context for every template; only `unit` changes between instances.
        let mut ctx = tera::Context::from_value(context.clone()).map_err(|err| Error::Render {
            template: "(context)".into(),
            reason: err.to_string(),
        })?;
        let mut plan = FilePlan::default();
        for (path, output) in rendered {
            match output.unit {
                Some(unit) => ctx.insert("unit", unit),
                None => drop(ctx.remove("unit")),
            }
            let contents = tera
                .render(output.name, &ctx)
                .map_err(|err| template_error(output.name, output.template, &err))?;
            plan.insert(path.clone(), contents, output.template.mode);
        }
        Ok(plan)
    }
}

/// `names` and every template they include, extend or import, however indirectly. Tera names
/// such a template with a string literal, so every quoted `….tera` in the source of one in the
/// set that names a template belongs to it (a mention in a comment only parses one more).
fn with_references<'a>(templates: &'a TemplateSet, names: BTreeSet<&'a str>) -> BTreeSet<&'a str> {
    let mut needed = names;
    let mut todo: Vec<&str> = needed.iter().copied().collect();
    while let Some(name) = todo.pop() {
        let Some(source) = templates
            .files
            .get(name)
            .and_then(|template| std::str::from_utf8(&template.source).ok())
        else {
            continue;
        };
        for (end, _) in source.match_indices(TERA_SUFFIX) {
            let end = end + TERA_SUFFIX.len();
            let Some(quote) = source[end..]
                .chars()
                .next()
                .filter(|c| matches!(c, '"' | '\''))
            else {
                continue;
            };
            let Some(start) = source[..end].rfind(quote) else {
                continue;
            };
            if let Some((other, _)) = templates.files.get_key_value(&source[start + 1..end]) {
                if needed.insert(other.as_str()) {
                    todo.push(other.as_str());
                }
            }
        }
    }
    needed
}

/// Where a template's output goes, once per unit it belongs to (or once, unbound).
fn instances<'a>(path: &str, scope: &'a RenderScope) -> Vec<(String, Option<&'a Value>)> {
    if let Some(rest) = path.strip_prefix(PER_SERVICE) {
        return scope
            .services
            .iter()
            .map(|(name, unit)| (format!("services/{name}/{rest}"), Some(unit)))
            .collect();
    }
    let (owner, rest) = path
        .strip_prefix("services/")
        .unwrap_or(path)
        .split_once('/')
        .unwrap_or_default();
    if let Some((_, unit)) = scope.modules.iter().find(|(name, _)| name == owner) {
        return if only_deployed(rest) {
            Vec::new()
        } else {
            vec![(format!("{MODULES_DIR}{owner}/{rest}"), Some(unit))]
        };
    }
    if path.starts_with("services/") {
        return scope
            .services
            .iter()
            .filter(|(name, _)| name == owner)
            .map(|(_, unit)| (path.to_owned(), Some(unit)))
            .collect();
    }
    let top = path.split('/').next().unwrap_or_default();
    if let Some((_, unit)) = scope.units.iter().find(|(name, _)| name == top) {
        return vec![(path.to_owned(), Some(unit))];
    }
    let always = path.starts_with("docs/adr/") || path.starts_with("README.md");
    if always || (scope.workspace && !is_unit_dir(top)) {
        vec![(path.to_owned(), None)]
    } else {
        Vec::new()
    }
}

/// Top-level directories that belong to a unit the model may leave out.
fn is_unit_dir(top: &str) -> bool {
    top == DEVSTACK || top == GATEWAY_CRATE || top == MONOLITH
}

/// The gateway's crate: a unit of its own, or a monolith's front door.
pub(crate) const GATEWAY_CRATE: &str = "api-gateway";

/// The unit directory of a modular monolith's one unit.
pub(crate) const MONOLITH: &str = "app";

/// Files of a unit's directory that only a deployable unit has: its image and its binary.
fn only_deployed(rest: &str) -> bool {
    rest.starts_with("Dockerfile") || rest.starts_with("src/main.rs")
}

/// Parses the Tera templates whose names `wanted` accepts, naming the culprit of a failure.
fn parse(templates: &TemplateSet, wanted: impl Fn(&str) -> bool) -> Result<Tera, Error> {
    let mut sources = Vec::new();
    for (path, template) in templates
        .files
        .iter()
        .filter(|(path, _)| path.ends_with(TERA_SUFFIX) && wanted(path))
    {
        let source = std::str::from_utf8(&template.source).map_err(|_| Error::BadTemplate {
            template: shown(path, template),
            line: "1".into(),
            reason: "not UTF-8 text".into(),
        })?;
        sources.push((path.as_str(), source, template));
    }
    let mut tera = Tera::default();
    tera.autoescape_on(Vec::new());
    let Err(set_error) =
        tera.add_raw_templates(sources.iter().map(|(path, source, _)| (*path, *source)))
    else {
        return Ok(tera);
    };
    // Name the culprit: a syntax error shows when its file is parsed alone. Parsed alone, a
    // template that extends or imports another fails too, so those failures are passed over.
    for (path, source, template) in &sources {
        if let Err(err) = Tera::default().add_raw_template(path, source) {
            if !refers_elsewhere(&err) {
                return Err(template_error(path, template, &err));
            }
        }
    }
    // Otherwise a reference between templates is broken; Tera names the referring one.
    let message = chain(&set_error);
    let culprit = sources
        .iter()
        .find(|(path, _, _)| message.contains(&format!("'{path}'")));
    Err(match culprit {
        Some((path, _, template)) => template_error(path, template, &set_error),
        None => Error::Render {
            template: "(template set)".into(),
            reason: message,
        },
    })
}

/// Whether a Tera error is about another template (inheritance, macro imports) rather than
/// the syntax of this one.
fn refers_elsewhere(err: &tera::Error) -> bool {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text.contains("doesn't exist") || text.contains("isn't present") || text.contains("not found")
}

fn shown(path: &str, template: &Template) -> String {
    match &template.origin {
        Origin::Builtin => path.to_owned(),
        Origin::Overlay(on_disk) => on_disk.display().to_string(),
    }
}

/// A template failure: bad input when the template is the user's, a bug when it is ours.
fn template_error(path: &str, template: &Template, err: &tera::Error) -> Error {
    let reason = chain(err);
    match template.origin {
        Origin::Builtin => Error::Render {
            template: path.to_owned(),
            reason,
        },
        Origin::Overlay(_) => Error::BadTemplate {
            template: shown(path, template),
            line: line_of(err, &template.source)
                .map_or_else(|| "?".into(), |line| line.to_string()),
            reason,
        },
    }
}

/// Tera's causes below its "failed to parse/render" headline, on one line.
fn chain(err: &tera::Error) -> String {
    let mut parts = Vec::new();
    let mut source = err.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    if parts.is_empty() {
        parts.push(err.to_string());
    }
    let text = parts.join(": ");
    // A parse error quotes the source with a caret; its reason follows the last ` = `.
    let reason = text
        .rsplit_once("\n  = ")
        .map_or(text.as_str(), |(_, reason)| reason);
    // The template is named by our message already.
    let reason = reason.split(" while rendering ").next().unwrap_or(reason);
    reason.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The line a Tera error points at: from a parse position (` --> 3:5`), or else the first
/// line that mentions the variable or filter it names.
fn line_of(err: &tera::Error, source: &[u8]) -> Option<usize> {
    let mut messages = vec![err.to_string()];
    let mut cause = err.source();
    while let Some(c) = cause {
        messages.push(c.to_string());
        cause = c.source();
    }
    let text = messages.join("\n");
    if let Some(at) = text.find(" --> ") {
        let digits: String = text[at + 5..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(line) = digits.parse() {
            return Some(line);
        }
    }
    let named = text.split('`').nth(1)?;
    String::from_utf8_lossy(source)
        .lines()
        .position(|line| line.contains(named))
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Mode;
    use serde_json::json;

    fn set(files: &[(&str, &str, Origin)]) -> TemplateSet {
        let mut templates = TemplateSet::default();
        for (path, source, origin) in files {
            templates.files.insert(
                (*path).to_owned(),
                Template {
                    source: source.as_bytes().to_vec(),
                    mode: Mode::Regular,
                    origin: origin.clone(),
                },
            );
        }
        templates
    }

    fn scope() -> RenderScope {
        RenderScope {
            services: vec![
                (
                    "a-service".into(),
                    json!({ "name": "a-service", "port": 1 }),
                ),
                (
                    "b-service".into(),
                    json!({ "name": "b-service", "port": 2 }),
                ),
            ],
            units: vec![("api-gateway".into(), json!({ "name": "api-gateway" }))],
            workspace: true,
            modules: Vec::new(),
        }
    }

    #[test]
    fn per_service_templates_are_instantiated_once_per_service_and_specific_ones_win() {
        let templates = set(&[
            (
                "services/__unit__/PORT.tera",
                "{{ unit.name }}:{{ unit.port }}",
                Origin::Builtin,
            ),
            ("services/b-service/PORT", "special", Origin::Builtin),
            ("services/gone-service/x.rs", "never", Origin::Builtin),
        ]);
        let plan = render(&compile(templates).unwrap(), &scope(), &json!({})).unwrap();
        assert_eq!(plan.text("services/a-service/PORT"), Some("a-service:1"));
        assert_eq!(plan.text("services/b-service/PORT"), Some("special"));
        assert_eq!(plan.len(), 2, "{:?}", plan.paths().collect::<Vec<_>>());
    }

    #[test]
    fn every_built_in_template_parses() {
        // A run parses the built-in set only as far as it renders it, so this is where a
        // template no run renders yet is parsed.
        compile(TemplateSet::builtin()).unwrap();
    }

    #[test]
    fn a_deferred_set_parses_what_it_renders_and_what_that_includes() {
        let templates = set(&[
            (
                "api-gateway/Dockerfile.tera",
                "{% include \"services/__unit__/Dockerfile.tera\" %}",
                Origin::Builtin,
            ),
            (
                "services/__unit__/Dockerfile.tera",
                "FROM {{ unit.name }}",
                Origin::Builtin,
            ),
            ("docs/never.tera", "{% if %}", Origin::Builtin),
        ]);
        let scope = RenderScope {
            units: vec![("api-gateway".into(), json!({ "name": "api-gateway" }))],
            ..RenderScope::default()
        };
        let plan = render(&deferred(templates), &scope, &json!({})).unwrap();
        assert_eq!(
            plan.text("api-gateway/Dockerfile"),
            Some("FROM api-gateway")
        );
    }

    #[test]
    fn files_without_the_tera_suffix_are_copied_unchanged() {
        let workflow = "run: echo ${{ github.sha }} {{ not tera }}";
        let templates = set(&[(".github/workflows/ci.yml", workflow, Origin::Builtin)]);
        let plan = render(&compile(templates).unwrap(), &scope(), &json!({})).unwrap();
        assert_eq!(plan.text(".github/workflows/ci.yml"), Some(workflow));
    }

    #[test]
    fn without_a_workspace_only_the_decision_files_are_rendered() {
        let templates = set(&[
            ("README.md.tera", "# {{ project }}", Origin::Builtin),
            ("docs/adr/001.md", "adr", Origin::Builtin),
            ("Cargo.toml", "[workspace]", Origin::Builtin),
            ("api-gateway/src/main.rs", "fn main() {}", Origin::Builtin),
        ]);
        let plan = render(
            &compile(templates).unwrap(),
            &RenderScope::default(),
            &json!({ "project": "shop" }),
        )
        .unwrap();
        assert_eq!(
            plan.paths().collect::<Vec<_>>(),
            ["README.md", "docs/adr/001.md"]
        );
        assert_eq!(plan.text("README.md"), Some("# shop"));
    }

    #[test]
    fn a_broken_overlay_template_names_its_file_and_line() {
        let templates = set(&[(
            "README.md.tera",
            "line one\n{% if %}yes{% endif %}\nline three\n",
            Origin::Overlay("mine/README.md.tera".into()),
        )]);
        let err = compile(templates)
            .and_then(|c| render(&c, &scope(), &json!({})))
            .unwrap_err();
        let Error::BadTemplate { template, line, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(template, "mine/README.md.tera");
        assert_eq!(line, "2");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn an_unknown_variable_in_an_overlay_names_the_line_that_uses_it() {
        let templates = set(&[(
            "README.md.tera",
            "# title\n\n{{ model.nope }}\n",
            Origin::Overlay("mine/README.md.tera".into()),
        )]);
        let err = compile(templates)
            .and_then(|c| render(&c, &scope(), &json!({ "model": {} })))
            .unwrap_err();
        let Error::BadTemplate { line, reason, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(line, "3");
        assert!(reason.contains("model.nope"), "{reason}");
    }
}
