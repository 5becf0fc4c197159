//! The comparison's outcome per step and the report written from it: counts (steps, same,
//! documented, undocumented), every undocumented difference with both servers' values, every
//! documented one with its id in `docs/compatibility.md`, and the documented ids this run
//! did not see.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::compare::Difference;
use super::documented::DOCUMENTED;

/// One difference and the documented difference that covers it, if any.
#[derive(Debug, Clone)]
pub struct Classified {
    pub difference: Difference,
    pub documented: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub struct StepOutcome {
    pub name: String,
    /// `METHOD path` as scripted (placeholders unfilled).
    pub request: String,
    pub differences: Vec<Classified>,
    /// Placeholders a side could not fill (an earlier step answered differently there).
    pub unresolved: Vec<String>,
}

impl StepOutcome {
    pub fn is_same(&self) -> bool {
        self.differences.is_empty()
    }

    pub fn is_documented(&self) -> bool {
        !self.differences.is_empty() && self.differences.iter().all(|d| d.documented.is_some())
    }

    pub fn is_undocumented(&self) -> bool {
        self.differences.iter().any(|d| d.documented.is_none())
    }
}

pub struct Report {
    pub killbill: String,
    pub ferrobill: String,
    pub run: String,
    pub steps: Vec<StepOutcome>,
}

impl Report {
    pub fn same(&self) -> usize {
        self.steps.iter().filter(|s| s.is_same()).count()
    }

    pub fn documented(&self) -> usize {
        self.steps.iter().filter(|s| s.is_documented()).count()
    }

    pub fn undocumented(&self) -> usize {
        self.steps.iter().filter(|s| s.is_undocumented()).count()
    }

    /// The documented ids some difference of this run matched.
    fn seen_ids(&self) -> BTreeSet<&'static str> {
        self.steps
            .iter()
            .flat_map(|step| step.differences.iter().filter_map(|d| d.documented))
            .collect()
    }

    pub fn summary(&self) -> String {
        format!(
            "{} steps: {} same, {} documented differences, {} undocumented differences",
            self.steps.len(),
            self.same(),
            self.documented(),
            self.undocumented()
        )
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# ferrobill-diff report\n");
        let _ = writeln!(out, "- Kill Bill: {}", self.killbill);
        let _ = writeln!(out, "- ferrobill: {}", self.ferrobill);
        let _ = writeln!(out, "- run: `{}`", self.run);
        let _ = writeln!(out, "- result: {}\n", self.summary());
        let _ = writeln!(out, "## Undocumented differences\n");
        if self.undocumented() == 0 {
            let _ = writeln!(out, "None.\n");
        }
        for step in self.steps.iter().filter(|s| s.is_undocumented()) {
            write_step(&mut out, step, |d| d.documented.is_none());
        }
        let _ = writeln!(
            out,
            "## Documented differences (docs/compatibility.md, by id)\n"
        );
        for step in self.steps.iter().filter(|s| !s.is_same()) {
            if step.differences.iter().any(|d| d.documented.is_some()) {
                write_step(&mut out, step, |d| d.documented.is_some());
            }
        }
        let seen = self.seen_ids();
        let unseen: Vec<&str> = DOCUMENTED
            .iter()
            .map(|documented| documented.id)
            .filter(|id| !seen.contains(id))
            .collect();
        let _ = writeln!(out, "## Documented differences not seen in this run\n");
        if unseen.is_empty() {
            let _ = writeln!(out, "None.");
        } else {
            for id in unseen {
                let _ = writeln!(out, "- `diff:{id}`");
            }
        }
        let _ = writeln!(out, "\n## Steps\n");
        for step in &self.steps {
            let verdict = if step.is_same() {
                "same"
            } else if step.is_documented() {
                "documented"
            } else {
                "UNDOCUMENTED"
            };
            let _ = writeln!(out, "- `{}` {} — {verdict}", step.name, step.request);
        }
        out
    }

    pub fn json(&self) -> Value {
        json!({
            "killbill": self.killbill,
            "ferrobill": self.ferrobill,
            "run": self.run,
            "steps": self.steps.len(),
            "same": self.same(),
            "documented": self.documented(),
            "undocumented": self.undocumented(),
            "outcomes": self.steps.iter().map(|step| json!({
                "step": step.name,
                "request": step.request,
                "unresolved": step.unresolved,
                "differences": step.differences.iter().map(|d| json!({
                    "aspect": d.difference.aspect,
                    "killbill": d.difference.killbill,
                    "ferrobill": d.difference.ferrobill,
                    "documented": d.documented,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}

fn write_step(out: &mut String, step: &StepOutcome, keep: impl Fn(&Classified) -> bool) {
    let _ = writeln!(out, "### `{}` — {}\n", step.name, step.request);
    if !step.unresolved.is_empty() {
        let _ = writeln!(
            out,
            "(placeholders not captured on one side: {})\n",
            step.unresolved.join(", ")
        );
    }
    for classified in step.differences.iter().filter(|d| keep(d)) {
        let id = classified
            .documented
            .map(|id| format!(" (`diff:{id}`)"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- **{}**{id}\n  - Kill Bill: `{}`\n  - ferrobill: `{}`",
            classified.difference.aspect,
            classified.difference.killbill.replace('`', "'"),
            classified.difference.ferrobill.replace('`', "'"),
        );
    }
    let _ = writeln!(out);
}
