//! What a report page shows of a multi-objective sweep: the front's figure (`front.png`, drawn by
//! `charts/front.rs`), the hypervolume against trials and against epochs (`hypervolume.png`,
//! `hypervolume_epochs.png`, drawn by `charts/hypervolume.rs`), and the section listing the front's members. Both
//! pages use it: the built-in network's ([`super::page`]) and a command sweep's ([`super::command_page`]).

use std::fmt::Write as _;
use std::path::Path;

use super::charts::{Against, FrontChart, HypervolumeChart};
use super::page::esc;
use super::scale::fmt_num;
use super::style::{self, CHART_SIZE};
use super::ReportError;
use crate::pareto::{objective_label, Pareto};
use sweep_grid::trials::value_text;
use sweep_results::schema::metric_text;

/// The front's figure.
pub(super) const FRONT: &str = "front";
/// The hypervolume against trials.
pub(super) const HYPERVOLUME: &str = "hypervolume";
/// The hypervolume against epochs.
pub(super) const HYPERVOLUME_EPOCHS: &str = "hypervolume_epochs";

/// A figure drawn into the report's folder, for the page to show.
pub(super) struct Drawn {
    /// `<stem>.png` and `<stem>.svg`.
    pub(super) stem: &'static str,
    pub(super) title: String,
    pub(super) caption: String,
    pub(super) size: (u32, u32),
}

/// Draws the front and hypervolume figures of `p` into `out`.
pub(super) fn figures(p: &Pareto, out: &Path) -> Result<Vec<Drawn>, ReportError> {
    let objectives = p.objectives();
    let names: Vec<String> = objectives.iter().map(objective_label).collect();
    let front = FrontChart {
        objectives,
        points: &p.front.points,
    };
    let size = front.size();
    style::render_sized(&front, out, FRONT, size)?;
    let members = front.highlighted().len();
    let taking = p.front.points.len();
    let shape = if objectives.len() == 2 {
        format!(
            "{} against {}: the {members} trials on the front (orange) are joined in order along it by the boundary of \
             what they dominate",
            names[1], names[0]
        )
    } else {
        format!(
            "One panel per pair of objectives ({}): the {members} trials on the front in orange (a member of the front \
             may look dominated in one pair: it is better in another objective)",
            names.join(", ")
        )
    };
    let mut drawn = vec![Drawn {
        stem: FRONT,
        title: format!("Pareto front of {}", names.join(", ")),
        caption: format!(
            "Every trial that takes part ({taking}: completed or pruned, with every objective). {shape}; the trials \
             another one beats in every objective are grey."
        ),
        size,
    }];
    let reference: Vec<String> = objectives
        .iter()
        .zip(&p.hypervolume.reference)
        .map(|(o, r)| format!("{} = {}", o.metric, fmt_num(*r)))
        .collect();
    let reference = format!(
        "The reference point is each objective's worst value over the trials that take part, 10 % of its span \
         further: {}.",
        reference.join(", ")
    );
    for (stem, against, title, what) in [
        (
            HYPERVOLUME,
            Against::Trials,
            "Hypervolume after each trial",
            "after each trial that takes part, in the order results.csv recorded them",
        ),
        (
            HYPERVOLUME_EPOCHS,
            Against::Epochs,
            "Hypervolume against epochs trained",
            "against the epochs every trial recorded by then had trained (those that take no part included)",
        ),
    ] {
        let chart = HypervolumeChart {
            points: &p.hypervolume.points,
            against,
        };
        style::render(&chart, out, stem)?;
        drawn.push(Drawn {
            stem,
            title: title.into(),
            caption: format!(
                "The volume of objective space the trials so far dominate, {what}; orange dots are the trials that \
                 pushed the front forward. {reference}"
            ),
            size: CHART_SIZE,
        });
    }
    Ok(drawn)
}

/// A figure as the pages show one: its PNG at its size, its title and caption, and a link to its SVG.
pub(super) fn figure_html(d: &Drawn) -> String {
    format!(
        "<figure>\n<img src=\"{s}.png\" alt=\"{t}\" width=\"{}\" height=\"{}\">\n<figcaption><b>{t}</b> {} <a \
         href=\"{s}.svg\">SVG</a></figcaption>\n</figure>\n",
        d.size.0,
        d.size.1,
        esc(&d.caption),
        s = d.stem,
        t = esc(&d.title),
    )
}

/// The section listing the front: each member's id, objectives and the values that differ among the members (best
/// first by the first objective, as `best.json` lists them), and its folder when it has one.
pub(super) fn front_section(p: &Pareto) -> String {
    let objectives = p.objectives();
    let members = &p.front.members;
    let mut h = String::from("<h2>Pareto front</h2>\n");
    let _ = writeln!(
        h,
        "<p class=\"front\">{} trials are on the front: no other trial is at least as good in every objective ({}) and \
         better in one. Best {} first, as <code>best.json</code> lists them, with the values that differ among them.</p>",
        members.len(),
        objectives.iter().map(|o| esc(&objective_label(o))).collect::<Vec<_>>().join(", "),
        objectives.first().map_or(String::new(), |o| esc(&o.metric)),
    );
    // The values that tell the members apart (a constant of the sweep, or every one of a front of one, says nothing
    // the best trial's table does not).
    let names: Vec<&String> = members.first().map_or_else(Vec::new, |first| {
        first
            .values
            .keys()
            .filter(|k| members.iter().any(|m| m.values.get(k.as_str()) != first.values.get(k.as_str())))
            .collect()
    });
    let folders = members.iter().any(|m| !m.trial_dir.is_empty());
    h.push_str("<table class=\"front\">\n<tr><th>trial</th>");
    for o in objectives {
        let _ = write!(h, "<th>{}</th>", esc(&objective_label(o)));
    }
    for n in &names {
        let _ = write!(h, "<th>{}</th>", esc(n));
    }
    h.push_str("<th>epochs run</th><th>best epoch</th>");
    if folders {
        h.push_str("<th>folder</th>");
    }
    h.push_str("</tr>\n");
    for m in members {
        let _ = write!(h, "<tr><td><code>{}</code></td>", esc(&m.id));
        for o in objectives {
            let _ = write!(h, "<td>{}</td>", metric_text(m.objectives.get(&o.metric).copied()));
        }
        for n in &names {
            let _ = write!(
                h,
                "<td>{}</td>",
                m.values.get(n.as_str()).map_or("–".into(), |v| esc(&value_text(v)))
            );
        }
        let _ = write!(
            h,
            "<td>{}</td><td>{}</td>",
            fmt_num(m.epochs_run),
            m.best_epoch.map_or("–".into(), fmt_num)
        );
        if folders {
            if m.trial_dir.is_empty() {
                h.push_str("<td>–</td>");
            } else {
                let _ = write!(h, "<td><a href=\"../{f}\"><code>{f}</code></a></td>", f = esc(&m.trial_dir));
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pareto::tests::two_objectives;

    #[test]
    fn the_figures_are_drawn_and_the_section_lists_the_front_in_best_json_s_order() {
        let tmp = tempfile::tempdir().unwrap();
        let p = Pareto::of(&two_objectives(tmp.path())).unwrap();
        style::register_font().unwrap();
        let out = tmp.path().join("report");
        std::fs::create_dir_all(&out).unwrap();
        let drawn = figures(&p, &out).unwrap();
        let stems: Vec<&str> = drawn.iter().map(|d| d.stem).collect();
        assert_eq!(stems, [FRONT, HYPERVOLUME, HYPERVOLUME_EPOCHS]);
        for s in &stems {
            for ext in ["png", "svg"] {
                assert!(out.join(format!("{s}.{ext}")).is_file(), "{s}.{ext}");
            }
        }
        assert!(drawn[1].caption.contains("f1 = 1.035, f2 = 1.035"), "{}", drawn[1].caption);
        assert!(drawn[0].title.contains("f1 (min), f2 (min)"));
        let html = figure_html(&drawn[0]);
        assert!(
            html.contains("<img src=\"front.png\"") && html.contains("href=\"front.svg\""),
            "{html}"
        );
        let section = front_section(&p);
        let listed: Vec<&str> = section
            .split("<tr><td><code>")
            .skip(1)
            .filter_map(|r| r.split("</code>").next())
            .collect();
        assert_eq!(listed, ["a", "c", "e"]);
        assert!(section.contains("<a href=\"../trials/a\">"), "{section}");
        assert!(
            section.contains("<th>f2 (min)</th><th>x</th><th>epochs run</th>"),
            "only the value that differs: {section}"
        );
    }
}
