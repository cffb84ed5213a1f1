//! A deployment's record at `/ui/deployments/{id}`: every stored field and its commits, as
//! `GET /api/v1/deployments/{id}` answers them.

use maud::{Markup, html};

use super::{
    format,
    layout::{self, Header},
};
use crate::store::deployments::DeploymentRecord;

fn flag(set: bool) -> &'static str {
    if set { "yes" } else { "no" }
}

/// The record page.
pub fn page(header: Header<'_>, record: &DeploymentRecord) -> Markup {
    let d = &record.deployment;
    let main = html! {
        p { a href="/" { "← Back to the overview" } }
        h1 { "Deployment #" (d.number) }
        p.title data-title=(d.title) { (d.title) }
        dl.record {
            dt { "Id" } dd { code { (d.id) } }
            dt { "Repository" } dd { (record.repository.name) " (" (record.repository.url) ")" }
            dt { "Team" } dd { (record.repository.team.as_deref().unwrap_or("—")) }
            dt { "Environment" } dd { (d.environment) @if d.is_production { " (production)" } }
            dt { "Status" } dd { span class={ "status status-" (d.status) } { (d.status) } }
            dt { "Deployed at" } dd { (format::time(d.deployed_at)) }
            dt { "Started / finished" } dd {
                (d.started_at.map_or_else(|| "—".to_owned(), format::time)) " / "
                (d.finished_at.map_or_else(|| "—".to_owned(), format::time))
            }
            dt { "Branch" } dd { code { (d.branch) } }
            dt { "Commit" } dd { code { (d.commit_id) } }
            dt { "Pull request" } dd { (d.pull_request_number.map_or_else(|| "—".to_owned(), |n| format!("#{n}"))) }
            dt { "Member" } dd { (record.member_external_id.as_deref().unwrap_or("—")) }
            dt { "Flags" } dd {
                "hotfix " (flag(d.is_hotfix)) ", fix " (flag(d.is_fix)) ", rollback "
                (flag(d.is_rollback)) ", forced " (flag(d.is_forced))
            }
            dt { "Recorded by" } dd { (d.triggered_by) ", " (format::time(d.created_at)) }
            dt { "URL" } dd { (d.url.as_deref().unwrap_or("—")) }
            dt { "Changelog" } dd.changelog { (d.changelog.as_deref().unwrap_or("—")) }
            dt { "In the API" } dd { code { "GET /api/v1/deployments/" (d.id) } }
        }
        h2 { "Commits (" (record.commits.len()) ")" }
        div.scroll tabindex="0" role="region" aria-label="Commits" {
            table.commits {
                thead { tr { th scope="col" { "Commit" } th scope="col" { "Committed" } th scope="col" { "Until deployed" } } }
                tbody {
                    @if record.commits.is_empty() {
                        tr { td colspan="3" { "No commits recorded: no lead time from this deployment." } }
                    }
                    @for c in &record.commits {
                        tr {
                            td { code { (c.sha) } }
                            td { (format::time(c.committed_at)) }
                            td { (format::duration((d.deployed_at - c.committed_at).as_seconds_f64())) }
                        }
                    }
                }
            }
        }
    };
    layout::document(&format!("Deployment #{}", d.number), Some(header), main)
}
