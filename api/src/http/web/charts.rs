//! Trend charts drawn on the server as SVG: one bar per calendar bucket, the benchmark's tier
//! bands behind them, partial buckets marked, and the same numbers in a table for readers who
//! do not see the chart. No inline styles (the CSP forbids them): colours come from classes.

use dora_metrics::{Benchmark, Tier};
use maud::{Markup, html};

use super::format;

// Close to the drawn size in a three-column layout, so text keeps its size.
const WIDTH: f64 = 440.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 54.0;
const RIGHT: f64 = 50.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 30.0;

/// How values map to height.
#[derive(Debug, Clone, Copy)]
pub enum Scale {
    Linear,
    /// Logarithmic from `min` (durations spanning minutes to months).
    Log {
        min: f64,
    },
}

/// A tier's range of values, `[low, high)`.
#[derive(Debug, Clone, Copy)]
pub struct Band {
    pub low: f64,
    pub high: f64,
    pub tier: Tier,
}

/// One bucket.
#[derive(Debug, Clone)]
pub struct Point {
    /// `2026-10-05` (a day) or `week of 2026-10-05`.
    pub label: String,
    /// The bucket's first day, for the axis.
    pub short: String,
    pub value: Option<f64>,
    pub tier: Option<Tier>,
    pub partial: bool,
}

/// A chart of one metric.
pub struct Chart<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub points: Vec<Point>,
    pub bands: Vec<Band>,
    pub scale: Scale,
    pub format: fn(f64) -> String,
    /// Short labels for the axis.
    pub tick: fn(f64) -> String,
}

const HOUR: f64 = 3_600.0;
const DAY: f64 = 86_400.0;

/// Deployment frequency's tiers are set by deploy days per week (DESIGN.md §5); as deployments
/// per day they are drawn at 5/7, 1/7 and 1/30.
pub fn frequency_bands(top: f64) -> Vec<Band> {
    bands_up(&[1.0 / 30.0, 1.0 / 7.0, 5.0 / 7.0], top)
}

/// Change lead time's bands for `benchmark`.
pub fn lead_time_bands(benchmark: Benchmark, top: f64) -> Vec<Band> {
    match benchmark {
        Benchmark::Y2023 => bands_down(&[DAY, 7.0 * DAY, 30.0 * DAY], top),
        Benchmark::Y2021 => bands_down(&[HOUR, 7.0 * DAY, 180.0 * DAY], top),
    }
}

/// Change failure rate's bands for `benchmark`.
pub fn failure_rate_bands(benchmark: Benchmark, top: f64) -> Vec<Band> {
    match benchmark {
        Benchmark::Y2023 => bands_down(&[0.05, 0.10, 0.15], top),
        Benchmark::Y2021 => bands_down(&[0.15, 0.20, 0.30], top),
    }
}

/// Failed deployment recovery time's bands.
pub fn recovery_bands(top: f64) -> Vec<Band> {
    bands_down(&[HOUR, DAY, 7.0 * DAY], top)
}

/// Elite below the first cut, then high, medium, low.
fn bands_down(cuts: &[f64; 3], top: f64) -> Vec<Band> {
    let tiers = [Tier::Elite, Tier::High, Tier::Medium, Tier::Low];
    let edges = [0.0, cuts[0], cuts[1], cuts[2], top.max(cuts[2])];
    (0..4)
        .map(|k| Band {
            low: edges[k],
            high: edges[k + 1],
            tier: tiers[k],
        })
        .collect()
}

/// Low below the first cut, then medium, high, elite.
fn bands_up(cuts: &[f64; 3], top: f64) -> Vec<Band> {
    let tiers = [Tier::Low, Tier::Medium, Tier::High, Tier::Elite];
    let edges = [0.0, cuts[0], cuts[1], cuts[2], top.max(cuts[2])];
    (0..4)
        .map(|k| Band {
            low: edges[k],
            high: edges[k + 1],
            tier: tiers[k],
        })
        .collect()
}

fn tier_class(tier: Tier) -> &'static str {
    match tier {
        Tier::Elite => "elite",
        Tier::High => "high",
        Tier::Medium => "medium",
        Tier::Low => "low",
    }
}

impl Chart<'_> {
    /// The highest value drawn: the data's, or the last tier cut with room above it.
    fn top(&self) -> f64 {
        let data = self
            .points
            .iter()
            .filter_map(|p| p.value)
            .fold(0.0_f64, f64::max);
        // The highest tier cut: the low edge of the last band.
        let cut = self.bands.iter().map(|b| b.low).fold(0.0_f64, f64::max);
        let top = data.max(cut * 1.25);
        match self.scale {
            Scale::Linear if top <= 0.0 => 1.0,
            Scale::Linear => top * 1.05,
            Scale::Log { min } => (top * 1.5).max(min * 10.0),
        }
    }

    /// The y coordinate of `value`.
    fn y(&self, value: f64, top: f64) -> f64 {
        let height = HEIGHT - TOP - BOTTOM;
        let fraction = match self.scale {
            Scale::Linear => value / top,
            Scale::Log { min } => {
                let v = value.max(min);
                (v.ln() - min.ln()) / (top.ln() - min.ln())
            }
        };
        TOP + (1.0 - fraction.clamp(0.0, 1.0)) * height
    }

    /// Values to label the axis with.
    fn ticks(&self, top: f64) -> Vec<f64> {
        match self.scale {
            Scale::Linear => vec![0.0, top / 2.0, top],
            Scale::Log { min } => [60.0, HOUR, DAY, 7.0 * DAY, 30.0 * DAY, 180.0 * DAY]
                .into_iter()
                .filter(|t| *t >= min && *t <= top)
                .collect(),
        }
    }

    pub fn render(&self) -> Markup {
        let top = self.top();
        let base = HEIGHT - BOTTOM;
        let plot_width = WIDTH - LEFT - RIGHT;
        let n = self.points.len().max(1) as f64;
        let slot = plot_width / n;
        let gap = (slot * 0.15).min(3.0);
        let title_id = format!("{}-title", self.id);
        let desc_id = format!("{}-desc", self.id);
        let drawn = self.points.iter().filter(|p| p.value.is_some()).count();
        let description = format!(
            "{} buckets, {} with a value; bands show the benchmark tiers",
            self.points.len(),
            drawn
        );
        let labelled: Vec<usize> = match self.points.len() {
            0 => Vec::new(),
            1 => vec![0],
            2 => vec![0, 1],
            len => vec![0, len / 2, len - 1],
        };
        html! {
            figure.chart id=(self.id) {
                svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
                    aria-labelledby={ (title_id) " " (desc_id) } {
                    title id=(title_id) { (self.title) }
                    desc id=(desc_id) { (description) }
                    @for band in &self.bands {
                        @let (y_high, y_low) = (self.y(band.high.min(top), top), self.y(band.low, top));
                        @if y_low > y_high {
                            rect class={ "band band-" (tier_class(band.tier)) } x=(LEFT)
                                y=(format!("{y_high:.1}")) width=(plot_width)
                                height=(format!("{:.1}", y_low - y_high)) {}
                            // A band too thin for its word is still drawn, unlabelled.
                            @if y_low - y_high >= 11.0 {
                                text.band-label x=(WIDTH - RIGHT + 4.0)
                                    y=(format!("{:.1}", (y_high + y_low) / 2.0 + 4.0)) {
                                    (format::tier(band.tier))
                                }
                            }
                        }
                    }
                    line.axis x1=(LEFT) y1=(base) x2=(WIDTH - RIGHT) y2=(base) {}
                    @for tick in self.ticks(top) {
                        @let y = self.y(tick, top);
                        text.tick x=(LEFT - 4.0) y=(format!("{:.1}", y + 4.0)) text-anchor="end" {
                            ((self.tick)(tick))
                        }
                    }
                    @for (k, point) in self.points.iter().enumerate() {
                        @if let Some(value) = point.value {
                            @let y = self.y(value, top);
                            @let class = if point.partial { "bar partial" } else { "bar" };
                            rect class=(class) x=(format!("{:.1}", LEFT + k as f64 * slot + gap))
                                y=(format!("{y:.1}")) width=(format!("{:.1}", (slot - 2.0 * gap).max(1.0)))
                                height=(format!("{:.1}", (base - y).max(1.0))) {
                                title { (bar_title(point, self.format)) }
                            }
                        }
                    }
                    @for k in &labelled {
                        @let point = &self.points[*k];
                        text.tick x=(format!("{:.1}", LEFT + (*k as f64 + 0.5) * slot)) y=(HEIGHT - 10.0)
                            text-anchor="middle" { (point.short) }
                    }
                }
                figcaption { (self.title) }
                details {
                    summary { "Data of this chart" }
                    div.scroll tabindex="0" role="region" aria-label={ (self.title) " data" } {
                        table.data {
                            thead { tr { th scope="col" { "Bucket" } th scope="col" { "Value" } th scope="col" { "Tier" } } }
                            tbody {
                                @for point in &self.points {
                                    tr {
                                        td { (point.label) @if point.partial { " (partial)" } }
                                        td { (point.value.map_or_else(|| "—".to_owned(), self.format)) }
                                        td { (point.tier.map_or("—", format::tier)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn bar_title(point: &Point, format: fn(f64) -> String) -> String {
    let value = point.value.map_or_else(|| "no data".to_owned(), format);
    let tier = match (point.partial, point.tier) {
        (true, _) => " — partial bucket, no tier".to_owned(),
        (false, Some(tier)) => format!(" — {}", format::tier(tier)),
        (false, None) => String::new(),
    };
    format!("{}: {value}{tier}", point.label)
}
