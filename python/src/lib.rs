//! `zkinfer._native`: the zkinfer commands, run in this process with the GIL released.
//!
//! One function, `run(argv, progress=None) -> (exit_status, text)`: `argv` is a zkinfer command
//! line without the program name (`["prove", DIR, "--input", FILE]`); on success `text` is the
//! command's JSON report (what `zkinfer --json` prints), otherwise the error message the CLI
//! prints, with the CLI's exit status (1 error, 2 refused command line, 3 proof rejected).
//! The Python layer (`zkinfer/__init__.py`) turns arguments into command lines and results into
//! arrays and exceptions; there is no second implementation of any step.

use pyo3::prelude::*;
use zkinfer_service::cmd;

/// Runs one zkinfer command; `progress(command, step)` is called as long commands start a step.
#[pyfunction]
#[pyo3(signature = (argv, progress=None))]
fn run(py: Python<'_>, argv: Vec<String>, progress: Option<Py<PyAny>>) -> (i32, String) {
    cmd::set_quiet(true);
    cmd::set_progress_hook(progress.map(|cb| -> Box<dyn Fn(&str, &str) + Send + Sync> {
        Box::new(move |command: &str, step: &str| {
            Python::attach(|py| {
                if let Err(e) = cb.call1(py, (command, step)) {
                    e.print(py);
                }
            })
        })
    }));
    let result = py.detach(move || {
        let argv: Vec<String> = std::iter::once("zkinfer".to_string()).chain(argv).collect();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cmd::run_args(argv)))
    });
    cmd::set_progress_hook(None);
    match result {
        Ok(Ok(report)) => (0, report.to_string()),
        Ok(Err(e)) => (cmd::exit_code(&e), format!("{e:#}")),
        Err(p) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            (cmd::EXIT_ERROR, format!("internal error (a bug: please report it): {msg}"))
        }
    }
}

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
