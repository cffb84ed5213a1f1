//! The page skeleton (head, header with the organization and the sign-out form, footer), the
//! sign-in page and the error page. Every string goes through maud, which escapes it.

use maud::{DOCTYPE, Markup, html};

use super::{assets, session::Session};

/// What the header shows of a session: its organization and the sign-out form's CSRF token.
pub struct Header<'a> {
    pub session: &'a Session,
    pub csrf: &'a str,
}

/// A whole HTML document.
pub fn document(title: &str, header: Option<Header<'_>>, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · dora-tracker" }
                link rel="stylesheet" href=(assets::css_href());
                link rel="icon" type="image/svg+xml" href=(assets::ICON_PATH);
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.site {
                    a.brand href="/" { "dora-tracker" }
                    @if let Some(header) = header {
                        span.org {
                            "Organization "
                            strong data-organization=(header.session.principal.organization) {
                                (header.session.principal.organization)
                            }
                        }
                        form.sign-out method="post" action="/ui/sign-out" {
                            input type="hidden" name="csrf" value=(header.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" { (main) }
                footer.site {
                    p {
                        "Definitions: "
                        a href="/docs" { "API explorer" }
                        " · the metric definitions are in the README's “Metric definitions”."
                    }
                }
            }
        }
    }
}

/// The sign-in page: one input named `token`.
pub fn sign_in(csrf: &str, next: &str, message: Option<&str>) -> Markup {
    let main = html! {
        section.sign-in aria-labelledby="sign-in-title" {
            h1 id="sign-in-title" { "Sign in" }
            p {
                "Paste a token with the " code { "read" } " scope. An operator mints one with "
                code { "dora-tracker token issue --org ORG --scope read --ttl 30d" } "."
            }
            @if let Some(message) = message {
                p.message role="alert" id="sign-in-message" { (message) }
            }
            form method="post" action="/ui/sign-in" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="next" value=(next);
                label for="token" { "Token" }
                input type="password" id="token" name="token" required autocomplete="off"
                    spellcheck="false" aria-describedby=[message.map(|_| "sign-in-message")];
                button type="submit" { "Sign in" }
            }
            p.hint {
                "The session lasts until the token expires; the token is kept in a cookie this "
                "site's scripts cannot read."
            }
        }
    };
    document("Sign in", None, main)
}

/// A page that says what went wrong.
pub fn error(header: Option<Header<'_>>, title: &str, message: &str) -> Markup {
    let main = html! {
        section.error {
            h1 { (title) }
            p.message role="alert" { (message) }
            p { a href="/" { "Back to the overview" } }
        }
    };
    document(title, header, main)
}
