//! What a credential allows: the scope vocabulary (`ingest`, `read`, `admin`).

/// One scope; `admin` implies the others (see `auth::Principal::require`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Ingest,
    Read,
    Admin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 3] = [Scope::Ingest, Scope::Read, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "ingest" => Some(Scope::Ingest),
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// Parses a space- or comma-separated scope list; unknown words are an error.
pub fn parse_scopes(value: &str) -> Result<Vec<Scope>, String> {
    scopes_of(value.split([' ', ',']))
}

/// The scopes of a list of words (a JSON array), each known, without repeats.
pub fn scopes_of<'a>(words: impl IntoIterator<Item = &'a str>) -> Result<Vec<Scope>, String> {
    let mut scopes = Vec::new();
    for word in words.into_iter().filter(|w| !w.is_empty()) {
        let scope = Scope::parse(word).ok_or_else(|| {
            format!(
                "unknown scope `{}` (use ingest, read, admin)",
                word.chars().take(32).collect::<String>()
            )
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err("at least one scope is required".to_owned());
    }
    Ok(scopes)
}

/// Scopes as the JWT `scope` claim and the stored column write them: space-separated.
pub fn scope_string(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses a lifetime: `90d`, `12h`, `30m`, `45s`, `2w`; between 1 s and 10 years.
pub fn parse_ttl(value: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("`{value}` is not a duration such as 90d, 12h or 30m");
    let value = value.trim();
    let split = value.len().checked_sub(1).ok_or_else(bad)?;
    if !value.is_char_boundary(split) {
        return Err(bad());
    }
    let (digits, unit) = value.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        "d" => n.checked_mul(86_400).ok_or_else(bad)?,
        "w" => n.checked_mul(7 * 86_400).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if seconds == 0 || seconds > 10 * 366 * 86_400 {
        return Err("must be between 1s and 10 years".to_owned());
    }
    Ok(std::time::Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists() {
        assert_eq!(
            parse_scopes("ingest read,ingest"),
            Ok(vec![Scope::Ingest, Scope::Read])
        );
        assert!(parse_scopes("").is_err());
        assert!(parse_scopes("root").is_err());
        assert_eq!(scope_string(&[Scope::Read, Scope::Admin]), "read admin");
    }
}
