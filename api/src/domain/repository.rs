//! Repository URLs and their normalized key, so that `https://github.com/Acme/Web.git`,
//! `git@github.com:acme/web.git` and `https://github.com/acme/web` are one repository.

use url::Url;

use super::check_text;

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
    /// Parses a repository URL in any of its spellings. Its key, read again as an https URL,
    /// must give the same key (README: "every spelling of one repository is one
    /// repository"); a spelling whose key would not (a host an https URL reads otherwise,
    /// such as an invalid punycode label) names no repository.
    pub fn parse(input: &str) -> Result<Self, String> {
        let parsed = Self::parse_once(input)?;
        let again = Self::parse_once(&format!("https://{}", parsed.key));
        if again.as_ref().map(|r| r.key.as_str()) != Ok(parsed.key.as_str()) {
            return Err(format!(
                "must name the repository as https://{} would (use that spelling)",
                parsed.key
            ));
        }
        Ok(parsed)
    }

    fn parse_once(input: &str) -> Result<Self, String> {
        let input = input.trim();
        if input.is_empty() || input.len() > 2048 {
            return Err("must be a repository URL of at most 2048 characters".to_owned());
        }
        // The URL is stored as given, so the text rule applies to the original string.
        check_text(input, false)?;
        if input.contains("/../") || input.contains("/./") || input.ends_with("/..") {
            return Err("must not contain `.` or `..` path segments".to_owned());
        }
        let (host, path) = if let Some((host, path)) = scp_like(input) {
            // The path spelled as a URL would spell it (percent-encoding, `\` as `/`), so that
            // both forms of one repository share one key.
            let url = Url::parse(&format!("https://example.invalid/{path}"))
                .map_err(|_| "must name a repository path such as acme/web".to_owned())?;
            if url.query().is_some() || url.fragment().is_some() {
                return Err("must not have a query or fragment".to_owned());
            }
            (host.to_owned(), url.path().to_owned())
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
            // http and https spell one repository: their default ports are no part of the key.
            let host = match url.port() {
                Some(port) if !matches!(url.scheme(), "ssh") && !matches!(port, 80 | 443) => {
                    format!("{host}:{port}")
                }
                _ => host,
            };
            (host, url.path().to_owned())
        };
        let path = path.trim_matches('/');
        // `.git` in any case: the key is lower-case, so `.GIT` must go as `.git` does.
        let path = match path.len().checked_sub(4) {
            Some(cut) if path.is_char_boundary(cut) && path[cut..].eq_ignore_ascii_case(".git") => {
                &path[..cut]
            }
            _ => path,
        }
        .trim_end_matches('/');
        // One `.git` goes; a path that still ends in one (`web.git.git`, `web/.git/.git`)
        // would lose another when its key is read again as a URL, so it names no repository.
        let ends_in_git = path.len() >= 4
            && path.is_char_boundary(path.len() - 4)
            && path[path.len() - 4..].eq_ignore_ascii_case(".git");
        if ends_in_git {
            return Err("must not end in `.git` twice".to_owned());
        }
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
        if !valid_host(&host) {
            return Err("must name a host such as github.com".to_owned());
        }
        let name = path.to_lowercase();
        Ok(Self {
            url: input.to_owned(),
            key: format!("{}/{}", host.to_lowercase(), name),
            name,
        })
    }
}

/// A DNS name or IP address (IPv6 in brackets), with an optional `:port`: the host part of a
/// key, whatever form the URL took (`ssh://` and `git://` hosts are opaque to the URL parser).
fn valid_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !host.ends_with(']') => {
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            name
        }
        _ => host,
    };
    if let Some(ip) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return ip.parse::<std::net::Ipv6Addr>().is_ok();
    }
    // A URL parser reads a host whose last label is a number (`22`, `1.2`, `0x16`) as an IPv4
    // address (WHATWG URL), so `https://22/…` would not name the host `22` that an ssh URL's
    // opaque host gave: only a complete dotted IPv4 address is accepted in that form.
    let last = name.rsplit('.').next().unwrap_or(name);
    let numeric = !last.is_empty()
        && (last.bytes().all(|b| b.is_ascii_digit())
            || last.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x")));
    if numeric {
        return name.parse::<std::net::Ipv4Addr>().is_ok();
    }
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
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

    /// A key spelled as an https URL is the same repository (the fuzz target's property).
    #[test]
    fn keys_reparse_as_https() {
        for input in [
            "git@github.com:acme/wéb.git",
            "https://github.com/acme/wéb",
            "http://github.com:443/acme/web",
            "git@github.com:acme\\web.git",
            "ssh://git@GitHub.com:22/acme/web.git",
            "https://10.0.0.7/acme/web",
            // The fuzz target's second find: `.giT` was kept, and lower-cased into `.git`.
            "git@github.cthub.com:acme/om:acme/we@.giT",
            "https://github.com/acme/web.GIT",
        ] {
            let k = key(input);
            assert_eq!(key(&format!("https://{k}")), k, "{input}");
        }
        // The fuzz target's find: a numeric host that https:// would read as 0.0.0.22.
        for input in [
            "ssh://git@github.com@22/acme/web.git",
            "ssh://git@1.2/acme/web.git",
            "ssh://git@0x16/acme/web.git",
            // The fuzz target's third find: a second `.git` went when the key was read again.
            "https://gitYcom/Acgit:/.git/.git",
            "https://github.com/acme/web.git.git",
            // The fourth: an invalid punycode host, opaque to ssh, refused by https.
            "ssh://xn--e/w./..:/it",
        ] {
            assert!(key(input).starts_with("error:"), "{input}: {}", key(input));
        }
        assert_eq!(
            key("git@github.com:acme/wéb.git"),
            key("https://github.com/acme/wéb")
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
            "https://github.com/acme/w\u{0}eb",
            "git@github.com:a?me/web.git",
            "..:;/%",
            "ssh://\u{10}om:11/acme/web.git",
            "git://example.%00/x/y",
            "s.com:2github#moic.@wbgt",
        ] {
            assert!(RepositoryRef::parse(input).is_err(), "{input}");
        }
    }
}
