//! Repository URLs and their normalized key, so that `https://github.com/Acme/Web.git`,
//! `git@github.com:acme/web.git` and `https://github.com/acme/web` are one repository.

use url::Url;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryRef {
    /// The URL as given.
    pub url: String,
    /// `host/path`, lower-case, without `.git` or slashes at the ends: `github.com/acme/web`.
    pub key: String,
    /// The path part of the key: `acme/web`.
    pub name: String,
}

impl RepositoryRef {
    pub fn parse(input: &str) -> Result<Self, String> {
        let input = input.trim();
        if input.is_empty() || input.len() > 2048 {
            return Err("must be a repository URL of at most 2048 characters".to_owned());
        }
        if input.contains("/../") || input.contains("/./") || input.ends_with("/..") {
            return Err("must not contain `.` or `..` path segments".to_owned());
        }
        let (host, path) = if let Some((user_host, path)) = scp_like(input) {
            (user_host.to_owned(), path.to_owned())
        } else {
            let url = Url::parse(input).map_err(|_| {
                "must be a repository URL such as https://github.com/acme/web".to_owned()
            })?;
            if !matches!(url.scheme(), "https" | "http" | "ssh" | "git") {
                return Err(format!(
                    "scheme `{}` is not supported (use https, http, ssh or git)",
                    url.scheme()
                ));
            }
            if url.password().is_some() {
                return Err("must not contain credentials".to_owned());
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err("must not have a query or fragment".to_owned());
            }
            let host = url.host_str().ok_or("must name a host")?.to_owned();
            let host = match url.port() {
                Some(port) if !matches!(url.scheme(), "ssh") => format!("{host}:{port}"),
                _ => host,
            };
            (host, url.path().to_owned())
        };
        let path = path.trim_matches('/');
        let path = path
            .strip_suffix(".git")
            .unwrap_or(path)
            .trim_end_matches('/');
        if path.is_empty()
            || path
                .split('/')
                .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return Err("must name a repository path such as acme/web".to_owned());
        }
        if path.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("must not contain spaces or control characters".to_owned());
        }
        let name = path.to_lowercase();
        Ok(Self {
            url: input.to_owned(),
            key: format!("{}/{}", host.to_lowercase(), name),
            name,
        })
    }
}

/// `git@github.com:acme/web.git` → (`github.com`, `acme/web.git`).
fn scp_like(input: &str) -> Option<(&str, &str)> {
    if input.contains("://") {
        return None;
    }
    let (user_host, path) = input.split_once(':')?;
    let host = user_host.rsplit_once('@').map_or(user_host, |(_, h)| h);
    let valid_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
    (valid_host && (host.contains('.') || user_host.contains('@')) && !path.is_empty())
        .then_some((host, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(input: &str) -> String {
        RepositoryRef::parse(input)
            .map(|r| r.key)
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn spellings_of_one_repository_share_a_key() {
        for input in [
            "https://github.com/Acme/Web.git",
            "https://github.com/acme/web",
            "https://github.com/acme/web/",
            "http://GitHub.com/acme/web.git",
            "git@github.com:acme/web.git",
            "ssh://git@github.com/acme/web.git",
        ] {
            assert_eq!(key(input), "github.com/acme/web", "{input}");
        }
        assert_eq!(
            RepositoryRef::parse("https://github.com/Acme/Web.git").map(|r| r.name),
            Ok("acme/web".to_owned())
        );
    }

    #[test]
    fn keeps_nested_groups_and_ports() {
        assert_eq!(
            key("https://gitlab.example.com:8443/group/sub/app"),
            "gitlab.example.com:8443/group/sub/app"
        );
    }

    #[test]
    fn rejects_non_repositories() {
        for input in [
            "",
            "not a url",
            "https://github.com",
            "https://github.com/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "https://user:pw@github.com/acme/web",
            "https://github.com/acme/web?x=1",
            "https://github.com/acme/../web",
        ] {
            assert!(RepositoryRef::parse(input).is_err(), "{input}");
        }
    }
}
