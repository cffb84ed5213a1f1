//! A deploy hook's fields, validated: what create and replace set.

use super::{Errors, FieldError, RepositoryRef, check_text, validate_environment};

/// Longest hook name, as Cloudflare's deploy hooks allow.
pub const MAX_HOOK_NAME_CHARS: usize = 58;

/// A validated hook (its repository is resolved, or created, by the use case).
#[derive(Debug, Clone)]
pub struct HookInput {
    pub repository: RepositoryRef,
    pub name: String,
    pub branch: String,
    pub environment: String,
}

impl HookInput {
    /// `environment` defaults to `production`.
    pub fn parse(
        name: &str,
        repository_url: &str,
        branch: &str,
        environment: Option<&str>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        let repository = errors.check("repository_url", RepositoryRef::parse(repository_url));
        let name = name.trim();
        if name.is_empty() {
            errors.push("name", "must not be blank");
        } else if name.chars().count() > MAX_HOOK_NAME_CHARS {
            errors.push(
                "name",
                format!("must be at most {MAX_HOOK_NAME_CHARS} characters"),
            );
        }
        errors.check("name", check_text(name, false));
        let branch = branch.trim();
        if branch.is_empty() {
            errors.push("branch", "must not be blank");
        }
        errors.check("branch", check_text(branch, false));
        let environment = environment.unwrap_or("production");
        errors.check("environment", validate_environment(environment));
        match repository {
            Some(repository) if errors.is_empty() => Ok(HookInput {
                repository,
                name: name.to_owned(),
                branch: branch.to_owned(),
                environment: environment.to_owned(),
            }),
            _ => Err(errors.0),
        }
    }
}
