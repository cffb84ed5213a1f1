//! Integrations: an organization's connection to an outside system that sends webhooks. Its
//! `kind` says which system (later issues add kinds); its options are validated by one function
//! per kind ([`IntegrationOptions::parse`]), so each kind accepts only the options that mean
//! something for it.

use std::{collections::BTreeMap, fmt, str::FromStr};

use glob::{MatchOptions, Pattern};
use serde::{Deserialize, Serialize};

use super::{Errors, FieldError, RepositoryRef, Secret, check_text, validate_environment};

/// Longest integration name.
pub const MAX_INTEGRATION_NAME_CHARS: usize = 100;
/// At most this many entries in each list option.
pub const MAX_OPTION_ITEMS: usize = 100;
/// Longest glob or label.
const MAX_PATTERN_CHARS: usize = 200;

/// Which outside system an integration connects. Its word is the path segment of the
/// webhook URL (`/webhooks/{kind}/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationKind {
    Github,
    Gitlab,
    /// PagerDuty V3 webhook subscriptions: incidents.
    Pagerduty,
    /// Prometheus Alertmanager's webhook receiver (and Grafana Alerting's webhook contact
    /// point, which sends the same payload): alerts as incidents.
    Alertmanager,
}

impl IntegrationKind {
    pub const ALL: [IntegrationKind; 4] = [
        IntegrationKind::Github,
        IntegrationKind::Gitlab,
        IntegrationKind::Pagerduty,
        IntegrationKind::Alertmanager,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Github => "github",
            IntegrationKind::Gitlab => "gitlab",
            IntegrationKind::Pagerduty => "pagerduty",
            IntegrationKind::Alertmanager => "alertmanager",
        }
    }

    /// The `source` of the incidents it records.
    pub fn incident_source(self) -> IncidentSource {
        match self {
            IntegrationKind::Github => IncidentSource::Github,
            IntegrationKind::Gitlab => IncidentSource::Gitlab,
            IntegrationKind::Pagerduty => IncidentSource::Pagerduty,
            IntegrationKind::Alertmanager => IncidentSource::Alertmanager,
        }
    }

    /// Whether the source generates the signing secret (PagerDuty shows its own once, after
    /// the subscription exists): then it is set with `PATCH {"secret"}`, never generated or
    /// rotated here.
    pub fn secret_from_source(self) -> bool {
        matches!(self, IntegrationKind::Pagerduty)
    }
}

impl fmt::Display for IntegrationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IntegrationKind {
    type Err = String;

    fn from_str(word: &str) -> Result<Self, Self::Err> {
        IntegrationKind::ALL
            .into_iter()
            .find(|k| k.as_str() == word)
            .ok_or_else(|| {
                format!(
                    "`{word}` is not an integration kind (one of {})",
                    IntegrationKind::ALL.map(IntegrationKind::as_str).join(", ")
                )
            })
    }
}

/// Where an incident came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncidentSource {
    /// `POST /api/v1/incidents`.
    Api,
    Github,
    Gitlab,
    Pagerduty,
    Alertmanager,
}

impl IncidentSource {
    pub const ALL: [IncidentSource; 5] = [
        IncidentSource::Api,
        IncidentSource::Github,
        IncidentSource::Gitlab,
        IncidentSource::Pagerduty,
        IncidentSource::Alertmanager,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentSource::Api => "api",
            IncidentSource::Github => "github",
            IncidentSource::Gitlab => "gitlab",
            IncidentSource::Pagerduty => "pagerduty",
            IncidentSource::Alertmanager => "alertmanager",
        }
    }
}

impl FromStr for IncidentSource {
    type Err = String;

    fn from_str(word: &str) -> Result<Self, Self::Err> {
        IncidentSource::ALL
            .into_iter()
            .find(|k| k.as_str() == word)
            .ok_or_else(|| {
                format!(
                    "`{word}` is not an incident source (one of {})",
                    IncidentSource::ALL.map(IncidentSource::as_str).join(", ")
                )
            })
    }
}

/// The options of an integration, validated for its kind, with defaults filled in. Stored as
/// JSON; an option added later reads as its default from rows stored before it existed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IntegrationOptions {
    /// Environments that count as production when the payload does not say (lower-case).
    pub production_environments: Vec<String>,
    /// GitHub Actions workflows (names or file paths, globs) whose completed runs are
    /// deployments. Empty: workflow runs record nothing.
    pub deployment_workflows: Vec<String>,
    /// Issues with this label (case-insensitive) are incidents.
    pub incident_label: String,
    /// The team of repositories first seen through this integration.
    pub team: Option<String>,
    /// `owner/name` globs of the repositories whose events are recorded; `None`: all.
    pub repositories: Option<Vec<String>>,
    /// PagerDuty: service id or name → where its incidents are. `None` for other kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<BTreeMap<String, ServiceTarget>>,
    /// PagerDuty: only incidents of these urgencies (`high`, `low`) are recorded; `None`: all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_urgency: Option<Vec<String>>,
    /// Alertmanager: label equality matchers an alert must carry to count; empty: every alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Alertmanager: the labels and annotation read (`None`: the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title_annotation: Option<String>,
}

/// Where the incidents of one PagerDuty service are: a repository (its URL, as given) and an
/// environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceTarget {
    pub repository_url: String,
    pub environment: String,
}

impl Default for IntegrationOptions {
    fn default() -> Self {
        Self {
            production_environments: vec!["production".to_owned()],
            deployment_workflows: Vec::new(),
            incident_label: "incident".to_owned(),
            team: None,
            repositories: None,
            services: None,
            match_urgency: None,
            match_labels: None,
            repository_label: None,
            environment_label: None,
            severity_label: None,
            title_annotation: None,
        }
    }
}

/// One entry of a `services` option as a request gives it.
#[derive(Debug, Clone, Copy)]
pub struct RawService<'a> {
    pub repository_url: &'a str,
    pub environment: Option<&'a str>,
}

/// The options as a request gives them; every one is optional.
#[derive(Debug, Clone, Default)]
pub struct RawOptions<'a> {
    pub production_environments: Option<&'a [String]>,
    pub deployment_workflows: Option<&'a [String]>,
    pub incident_label: Option<&'a str>,
    pub team: Option<&'a str>,
    pub repositories: Option<&'a [String]>,
    pub services: Option<Vec<(&'a str, RawService<'a>)>>,
    pub match_urgency: Option<&'a [String]>,
    pub match_labels: Option<&'a BTreeMap<String, String>>,
    pub repository_label: Option<&'a str>,
    pub environment_label: Option<&'a str>,
    pub severity_label: Option<&'a str>,
    pub title_annotation: Option<&'a str>,
}

impl RawOptions<'_> {
    /// The names of the options given, as request fields (`options.<name>`).
    fn given(&self) -> Vec<(&'static str, bool)> {
        vec![
            (
                "options.production_environments",
                self.production_environments.is_some(),
            ),
            (
                "options.deployment_workflows",
                self.deployment_workflows.is_some(),
            ),
            ("options.incident_label", self.incident_label.is_some()),
            ("options.team", self.team.is_some()),
            ("options.repositories", self.repositories.is_some()),
            ("options.services", self.services.is_some()),
            ("options.match_urgency", self.match_urgency.is_some()),
            ("options.match", self.match_labels.is_some()),
            ("options.repository_label", self.repository_label.is_some()),
            (
                "options.environment_label",
                self.environment_label.is_some(),
            ),
            ("options.severity_label", self.severity_label.is_some()),
            ("options.title_annotation", self.title_annotation.is_some()),
        ]
    }
}

/// The defaults of the Alertmanager options.
pub const DEFAULT_REPOSITORY_LABEL: &str = "repository";
pub const DEFAULT_ENVIRONMENT_LABEL: &str = "environment";
pub const DEFAULT_SEVERITY_LABEL: &str = "severity";
pub const DEFAULT_TITLE_ANNOTATION: &str = "summary";
/// PagerDuty's urgencies.
const URGENCIES: [&str; 2] = ["high", "low"];

fn case_insensitive() -> MatchOptions {
    MatchOptions {
        case_sensitive: false,
        require_literal_separator: false,
        require_literal_leading_dot: false,
    }
}

fn check_list(
    errors: &mut Errors,
    field: &str,
    items: &[String],
    check: impl Fn(&str) -> Result<String, String>,
) -> Vec<String> {
    if items.len() > MAX_OPTION_ITEMS {
        errors.push(field, format!("must have at most {MAX_OPTION_ITEMS} items"));
        return Vec::new();
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some(v) = errors.check(&format!("{field}[{i}]"), check(item))
            && !out.contains(&v)
        {
            out.push(v);
        }
    }
    out
}

fn check_glob(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > MAX_PATTERN_CHARS {
        return Err(format!("must be 1-{MAX_PATTERN_CHARS} characters"));
    }
    check_text(value, false)?;
    Pattern::new(value).map_err(|e| format!("is not a glob: {e}"))?;
    Ok(value.to_owned())
}

fn check_label(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > MAX_PATTERN_CHARS {
        return Err(format!("must be 1-{MAX_PATTERN_CHARS} characters"));
    }
    check_text(value, false)?;
    Ok(value.to_owned())
}

fn check_environment(value: &str) -> Result<String, String> {
    let value = value.trim().to_ascii_lowercase();
    validate_environment(&value)?;
    Ok(value)
}

/// The options every webhook source understands.
fn common(errors: &mut Errors, raw: &RawOptions<'_>) -> IntegrationOptions {
    let defaults = IntegrationOptions::default();
    let production_environments = match raw.production_environments {
        Some([]) => {
            errors.push(
                "options.production_environments",
                "must name at least one environment",
            );
            Vec::new()
        }
        Some(items) => check_list(
            errors,
            "options.production_environments",
            items,
            check_environment,
        ),
        None => defaults.production_environments,
    };
    let incident_label = match raw.incident_label {
        Some(label) => errors
            .check("options.incident_label", check_label(label))
            .unwrap_or_default(),
        None => defaults.incident_label,
    };
    let team = raw
        .team
        .and_then(|team| errors.check("options.team", check_label(team)));
    let repositories = raw.repositories.map(|items| {
        check_list(errors, "options.repositories", items, |v| {
            let v = check_glob(v)?;
            if !v.contains('/') {
                return Err("must be an `owner/name` glob such as `acme/*`".to_owned());
            }
            Ok(v.to_ascii_lowercase())
        })
    });
    IntegrationOptions {
        production_environments,
        deployment_workflows: Vec::new(),
        incident_label,
        team,
        repositories,
        ..IntegrationOptions::default()
    }
}

fn refuse(errors: &mut Errors, field: &str, given: bool, kind: IntegrationKind) {
    if given {
        errors.push(field, format!("is not an option of `{kind}` integrations"));
    }
}

/// Refuses every option given that is not in `allowed`.
fn refuse_others(
    errors: &mut Errors,
    raw: &RawOptions<'_>,
    allowed: &[&str],
    kind: IntegrationKind,
) {
    for (field, given) in raw.given() {
        if !allowed.contains(&field) {
            refuse(errors, field, given, kind);
        }
    }
}

/// The options GitHub and GitLab understand.
const WEBHOOK_OPTIONS: [&str; 5] = [
    "options.production_environments",
    "options.deployment_workflows",
    "options.incident_label",
    "options.team",
    "options.repositories",
];

/// A Prometheus label (or annotation) name: `[a-zA-Z_][a-zA-Z0-9_]*`, at most 200.
fn check_label_name(value: &str) -> Result<String, String> {
    let value = value.trim();
    let mut chars = value.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && value.len() <= MAX_PATTERN_CHARS;
    if ok {
        Ok(value.to_owned())
    } else {
        Err("must be a label name (letters, digits and `_`, not starting with a digit)".to_owned())
    }
}

/// A label value to match: any text without control characters, at most 200 characters.
fn check_label_value(value: &str) -> Result<String, String> {
    if value.chars().count() > MAX_PATTERN_CHARS {
        return Err(format!("must be at most {MAX_PATTERN_CHARS} characters"));
    }
    check_text(value, false)?;
    Ok(value.to_owned())
}

fn team_option(errors: &mut Errors, raw: &RawOptions<'_>) -> Option<String> {
    raw.team
        .and_then(|team| errors.check("options.team", check_label(team)))
}

/// PagerDuty: the service map and the urgencies recorded.
fn pagerduty_options(raw: &RawOptions<'_>) -> Result<IntegrationOptions, Vec<FieldError>> {
    let mut errors = Errors::default();
    let kind = IntegrationKind::Pagerduty;
    refuse_others(
        &mut errors,
        raw,
        &["options.team", "options.services", "options.match_urgency"],
        kind,
    );
    let mut options = IntegrationOptions {
        team: team_option(&mut errors, raw),
        services: Some(BTreeMap::new()),
        ..IntegrationOptions::default()
    };
    if let Some(services) = &raw.services {
        if services.len() > MAX_OPTION_ITEMS {
            errors.push(
                "options.services",
                format!("must have at most {MAX_OPTION_ITEMS} entries"),
            );
        }
        let mut map = BTreeMap::new();
        for (key, service) in services.iter().take(MAX_OPTION_ITEMS) {
            let field = format!("options.services.{key}");
            let Some(key) = errors.check(&field, check_label(key)) else {
                continue;
            };
            let repository_url = errors.check(
                &format!("{field}.repository_url"),
                RepositoryRef::parse(service.repository_url)
                    .map(|_| service.repository_url.trim().to_owned()),
            );
            let environment = match service.environment {
                Some(e) => errors.check(&format!("{field}.environment"), check_environment(e)),
                None => Some("production".to_owned()),
            };
            if let (Some(repository_url), Some(environment)) = (repository_url, environment) {
                map.insert(
                    key,
                    ServiceTarget {
                        repository_url,
                        environment,
                    },
                );
            }
        }
        options.services = Some(map);
    }
    if let Some(items) = raw.match_urgency {
        let urgencies = check_list(&mut errors, "options.match_urgency", items, |u| {
            let u = u.trim().to_ascii_lowercase();
            if URGENCIES.contains(&u.as_str()) {
                Ok(u)
            } else {
                Err("must be `high` or `low`".to_owned())
            }
        });
        if urgencies.is_empty() && errors.is_empty() {
            errors.push("options.match_urgency", "must name at least one urgency");
        }
        options.match_urgency = Some(urgencies);
    }
    errors.finish(|| options)
}

/// Alertmanager: which alerts count, and where each reads its repository, environment,
/// severity and title.
fn alertmanager_options(raw: &RawOptions<'_>) -> Result<IntegrationOptions, Vec<FieldError>> {
    let mut errors = Errors::default();
    let kind = IntegrationKind::Alertmanager;
    refuse_others(
        &mut errors,
        raw,
        &[
            "options.team",
            "options.match",
            "options.repository_label",
            "options.environment_label",
            "options.severity_label",
            "options.title_annotation",
        ],
        kind,
    );
    let mut options = IntegrationOptions {
        team: team_option(&mut errors, raw),
        ..IntegrationOptions::default()
    };
    let mut matchers = BTreeMap::new();
    if let Some(given) = raw.match_labels {
        if given.len() > MAX_OPTION_ITEMS {
            errors.push(
                "options.match",
                format!("must have at most {MAX_OPTION_ITEMS} matchers"),
            );
        }
        for (name, value) in given.iter().take(MAX_OPTION_ITEMS) {
            let field = format!("options.match.{name}");
            if let (Some(name), Some(value)) = (
                errors.check(&field, check_label_name(name)),
                errors.check(&field, check_label_value(value)),
            ) {
                matchers.insert(name, value);
            }
        }
    }
    options.match_labels = Some(matchers);
    let name = |errors: &mut Errors, field: &str, given: Option<&str>, default: &str| {
        Some(match given {
            Some(v) => errors.check(field, check_label_name(v)).unwrap_or_default(),
            None => default.to_owned(),
        })
    };
    options.repository_label = name(
        &mut errors,
        "options.repository_label",
        raw.repository_label,
        DEFAULT_REPOSITORY_LABEL,
    );
    options.environment_label = name(
        &mut errors,
        "options.environment_label",
        raw.environment_label,
        DEFAULT_ENVIRONMENT_LABEL,
    );
    options.severity_label = name(
        &mut errors,
        "options.severity_label",
        raw.severity_label,
        DEFAULT_SEVERITY_LABEL,
    );
    options.title_annotation = name(
        &mut errors,
        "options.title_annotation",
        raw.title_annotation,
        DEFAULT_TITLE_ANNOTATION,
    );
    errors.finish(|| options)
}

/// GitHub: everything, including the workflows whose runs are deployments.
fn github_options(raw: &RawOptions<'_>) -> Result<IntegrationOptions, Vec<FieldError>> {
    let mut errors = Errors::default();
    refuse_others(&mut errors, raw, &WEBHOOK_OPTIONS, IntegrationKind::Github);
    let mut options = common(&mut errors, raw);
    if let Some(items) = raw.deployment_workflows {
        options.deployment_workflows = check_list(
            &mut errors,
            "options.deployment_workflows",
            items,
            check_glob,
        );
    }
    errors.finish(|| options)
}

/// GitLab: deployments come from its Deployment Hook, so there are no workflows to name.
fn gitlab_options(raw: &RawOptions<'_>) -> Result<IntegrationOptions, Vec<FieldError>> {
    let mut errors = Errors::default();
    let options = common(&mut errors, raw);
    refuse(
        &mut errors,
        "options.deployment_workflows",
        raw.deployment_workflows.is_some(),
        IntegrationKind::Gitlab,
    );
    refuse_others(&mut errors, raw, &WEBHOOK_OPTIONS, IntegrationKind::Gitlab);
    errors.finish(|| options)
}

impl IntegrationOptions {
    /// Validates `raw` for an integration of `kind` (one function per kind).
    pub fn parse(kind: IntegrationKind, raw: &RawOptions<'_>) -> Result<Self, Vec<FieldError>> {
        match kind {
            IntegrationKind::Github => github_options(raw),
            IntegrationKind::Gitlab => gitlab_options(raw),
            IntegrationKind::Pagerduty => pagerduty_options(raw),
            IntegrationKind::Alertmanager => alertmanager_options(raw),
        }
    }

    /// PagerDuty: where the incidents of a service (by id, else by name, case-insensitive)
    /// are, if the service map names it.
    pub fn service_target(&self, id: &str, name: Option<&str>) -> Option<&ServiceTarget> {
        let services = self.services.as_ref()?;
        services.get(id).or_else(|| {
            let name = name?;
            services
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
    }

    /// PagerDuty: whether incidents of `urgency` are recorded.
    pub fn matches_urgency(&self, urgency: Option<&str>) -> bool {
        match &self.match_urgency {
            None => true,
            Some(list) => urgency.is_some_and(|u| list.iter().any(|m| m.eq_ignore_ascii_case(u))),
        }
    }

    /// Alertmanager: whether an alert with `labels` counts (it carries every `match` label
    /// with its value).
    pub fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels.as_ref().is_none_or(|m| {
            m.iter()
                .all(|(name, value)| labels.get(name).is_some_and(|v| v == value))
        })
    }

    /// Alertmanager: the label naming the repository.
    pub fn repository_label(&self) -> &str {
        self.repository_label
            .as_deref()
            .unwrap_or(DEFAULT_REPOSITORY_LABEL)
    }

    pub fn environment_label(&self) -> &str {
        self.environment_label
            .as_deref()
            .unwrap_or(DEFAULT_ENVIRONMENT_LABEL)
    }

    pub fn severity_label(&self) -> &str {
        self.severity_label
            .as_deref()
            .unwrap_or(DEFAULT_SEVERITY_LABEL)
    }

    pub fn title_annotation(&self) -> &str {
        self.title_annotation
            .as_deref()
            .unwrap_or(DEFAULT_TITLE_ANNOTATION)
    }

    /// Whether a deployment to `environment` is a production deployment: the payload's own
    /// flag when it has one, else whether the environment is listed (case-insensitive).
    pub fn is_production(&self, environment: &str, payload_flag: Option<bool>) -> bool {
        payload_flag.unwrap_or_else(|| {
            self.production_environments
                .iter()
                .any(|p| p.eq_ignore_ascii_case(environment))
        })
    }

    /// The environment of deployments whose payload names none.
    pub fn default_environment(&self) -> &str {
        self.production_environments
            .first()
            .map_or("production", String::as_str)
    }

    /// Whether events of repository `name` (`owner/name`, any case) are recorded.
    pub fn allows_repository(&self, name: &str) -> bool {
        match &self.repositories {
            None => true,
            Some(globs) => globs
                .iter()
                .any(|g| Pattern::new(g).is_ok_and(|p| p.matches_with(name, case_insensitive()))),
        }
    }

    /// Whether a workflow known by any of `names` (its name, its file path) is listed.
    pub fn is_deployment_workflow<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> bool {
        let patterns: Vec<Pattern> = self
            .deployment_workflows
            .iter()
            .filter_map(|g| Pattern::new(g).ok())
            .collect();
        names.into_iter().filter(|n| !n.is_empty()).any(|name| {
            patterns
                .iter()
                .any(|p| p.matches_with(name, case_insensitive()))
        })
    }

    /// Whether `label` is the incident label (case-insensitive).
    pub fn is_incident_label(&self, label: &str) -> bool {
        label.trim().eq_ignore_ascii_case(&self.incident_label)
    }
}

/// Longest secret a source may give (PagerDuty's are 64 characters).
const MAX_SOURCE_SECRET_CHARS: usize = 256;

/// A signing secret the source generated (PagerDuty's): 16-256 printable ASCII characters
/// without spaces.
pub fn check_source_secret(value: &str) -> Result<Secret, String> {
    let ok = (16..=MAX_SOURCE_SECRET_CHARS).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(Secret::new(value))
    } else {
        Err(format!(
            "must be the secret the source shows: 16-{MAX_SOURCE_SECRET_CHARS} printable characters without spaces"
        ))
    }
}

/// A validated new integration.
#[derive(Debug, Clone)]
pub struct NewIntegration {
    pub kind: IntegrationKind,
    pub name: String,
    pub options: IntegrationOptions,
}

/// Checks an integration name.
pub fn check_integration_name(errors: &mut Errors, name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty() {
        errors.push("name", "must not be blank");
        return None;
    }
    if name.chars().count() > MAX_INTEGRATION_NAME_CHARS {
        errors.push(
            "name",
            format!("must be at most {MAX_INTEGRATION_NAME_CHARS} characters"),
        );
        return None;
    }
    errors.check("name", check_text(name, false))?;
    Some(name.to_owned())
}

impl NewIntegration {
    pub fn parse(kind: &str, name: &str, raw: &RawOptions<'_>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        let kind = errors.check("kind", kind.parse::<IntegrationKind>());
        let name = check_integration_name(&mut errors, name);
        let options = match kind.map(|k| IntegrationOptions::parse(k, raw)) {
            Some(Ok(options)) => Some(options),
            Some(Err(e)) => {
                errors.0.extend(e);
                None
            }
            None => None,
        };
        match (kind, name, options) {
            (Some(kind), Some(name), Some(options)) if errors.is_empty() => Ok(NewIntegration {
                kind,
                name,
                options,
            }),
            _ => Err(errors.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn defaults_and_matching() {
        let o = IntegrationOptions::parse(IntegrationKind::Github, &RawOptions::default())
            .expect("valid");
        assert_eq!(o, IntegrationOptions::default());
        assert!(o.is_production("Production", None));
        assert!(!o.is_production("production", Some(false)));
        assert!(o.allows_repository("acme/web"));
        assert!(!o.is_deployment_workflow(["deploy"]));
        assert!(o.is_incident_label("Incident"));
    }

    #[test]
    fn stored_options_missing_a_field_read_as_its_default() {
        let o: IntegrationOptions =
            serde_json::from_str(r#"{"incident_label": "sev"}"#).expect("reads");
        assert_eq!(o.incident_label, "sev");
        assert_eq!(o.production_environments, ["production"]);
    }

    #[test]
    fn globs() {
        let repos = strings(&["acme/*", "Other/Api"]);
        let workflows = strings(&["deploy*", ".github/workflows/release.yml"]);
        let o = IntegrationOptions::parse(
            IntegrationKind::Github,
            &RawOptions {
                repositories: Some(&repos),
                deployment_workflows: Some(&workflows),
                ..RawOptions::default()
            },
        )
        .expect("valid");
        assert!(o.allows_repository("ACME/web"));
        assert!(o.allows_repository("other/api"));
        assert!(!o.allows_repository("evil/web"));
        assert!(o.is_deployment_workflow(["Deploy to prod"]));
        assert!(o.is_deployment_workflow(["", ".github/workflows/release.yml"]));
        assert!(!o.is_deployment_workflow(["test"]));
    }

    #[test]
    fn each_kind_checks_its_own_options() {
        let workflows = strings(&["deploy"]);
        let raw = RawOptions {
            deployment_workflows: Some(&workflows),
            ..RawOptions::default()
        };
        assert!(IntegrationOptions::parse(IntegrationKind::Github, &raw).is_ok());
        let errors = IntegrationOptions::parse(IntegrationKind::Gitlab, &raw).expect_err("refused");
        assert_eq!(errors[0].field, "options.deployment_workflows");
    }

    #[test]
    fn bad_options_name_their_field() {
        let envs = strings(&["prod uction"]);
        let repos = strings(&["web"]);
        let errors = NewIntegration::parse(
            "github",
            " ",
            &RawOptions {
                production_environments: Some(&envs),
                repositories: Some(&repos),
                incident_label: Some("a\u{7}"),
                ..RawOptions::default()
            },
        )
        .expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "options.production_environments[0]",
                "options.incident_label",
                "options.repositories[0]"
            ]
        );
        assert!(NewIntegration::parse("jira", "x", &RawOptions::default()).is_err());
    }
}
