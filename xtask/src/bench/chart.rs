//! `results.png`: answered queries per second per server, one bar per load
//! generator.

use std::{fs, path::Path, sync::OnceLock};

use anyhow::{anyhow, Context as _, Result};
use plotters::prelude::*;

use super::report::Results;

/// Fonts tried, in order (Debian's fonts-dejavu-core first).
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

static FONT: OnceLock<bool> = OnceLock::new();

/// Registers a TTF as "sans-serif" for plotters' `ab_glyph` text backend.
fn register_font() -> Result<()> {
    let ok = *FONT.get_or_init(|| {
        FONTS.iter().any(|f| {
            fs::read(f).is_ok_and(|bytes| {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            })
        })
    });
    if ok {
        Ok(())
    } else {
        Err(anyhow!("no font found (tried {})", FONTS.join(", ")))
    }
}

/// Draws the chart.
pub fn draw(path: &Path, r: &Results) -> Result<()> {
    register_font()?;
    let rows: Vec<(String, f64, f64)> = r
        .servers
        .iter()
        .filter(|s| s.dnsperf.is_some() || s.kxdpgun.is_some())
        .map(|s| {
            (
                s.label.clone(),
                s.dnsperf.as_ref().map_or(0.0, |d| d.qps),
                s.kxdpgun.as_ref().map_or(0.0, |k| k.qps),
            )
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let max = rows
        .iter()
        .map(|(_, a, b)| a.max(*b))
        .fold(0.0, f64::max)
        .max(1.0)
        / 1000.0;
    let root = BitMapBackend::new(path, (1100, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let n = rows.len();
    let title = format!(
        "Answered queries/s, {} names, mix {} ({} CPUs, veth)",
        r.meta.names, r.meta.mix, r.meta.cpus
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n as f64, 0f64..max * 1.15)
        .map_err(|e| anyhow!("{e:?}"))?;
    let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            let frac = x - x.floor();
            if (frac - 0.5).abs() < 0.01 && i < labels.len() {
                labels[i].clone()
            } else {
                String::new()
            }
        })
        .y_desc("thousand answered queries / s")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(WHITE)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    let series = [
        ("dnsperf", RGBColor(70, 130, 180), 0usize),
        ("kxdpgun", RGBColor(230, 120, 40), 1usize),
    ];
    for (name, color, idx) in series {
        let bars = rows.iter().enumerate().map(move |(i, row)| {
            let v = if idx == 0 { row.1 } else { row.2 } / 1000.0;
            let x0 = i as f64 + 0.1 + 0.4 * idx as f64;
            Rectangle::new([(x0, 0.0), (x0 + 0.38, v)], color.filled())
        });
        chart
            .draw_series(bars)
            .map_err(|e| anyhow!("{e:?}"))?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        let values = rows.iter().enumerate().filter_map(move |(i, row)| {
            let v = if idx == 0 { row.1 } else { row.2 } / 1000.0;
            (v > 0.0).then(|| {
                Text::new(
                    format!("{v:.0}k"),
                    (i as f64 + 0.12 + 0.4 * idx as f64, v + max * 0.03),
                    ("sans-serif", 13),
                )
            })
        });
        chart.draw_series(values).map_err(|e| anyhow!("{e:?}"))?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .label_font(("sans-serif", 15))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    root.present()
        .map_err(|e| anyhow!("{e:?}"))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
