//! `plan` (the default): every API call a reset would make, in order, and what it would touch;
//! it changes nothing. Offline on a snapshot (`-f`), live on the cluster.

use super::connect;
use crate::error::{ResetError, Result};
use crate::model::Target;
use crate::{Args, plan, steps};
use kubectl_flux_cli::{Origin, Resolved};
use kubectl_flux_output::{Format, Printer};
use kubectl_flux_source::Source;
use serde_json::Value;

pub fn plan(
    args: &Args,
    resolved: &Resolved,
    runtime: &tokio::runtime::Runtime,
    printers: &mut [Printer],
) -> Result<u8> {
    let scope = super::scope(args, resolved)?;
    let dir = plan::show(&super::dir_of(args, resolved));
    let ns = args.controllers_namespace.clone();
    let mut p = if let Origin::One(Source::Files(files)) = &resolved.origin {
        let snapshot = kubectl_flux_source::offline::read_paths(files)?;
        let mut targets: Vec<Target> =
            snapshot.objects().iter().filter(|o| scope.contains(o)).filter_map(Target::from_object).collect();
        plan::sort(&mut targets);
        let versions = targets.iter().map(|t| (t.kind.kind.to_string(), t.version.clone())).collect();
        let found: Vec<String> = snapshot
            .of_kind("apps", "Deployment")
            .filter(|d| d.id.namespace == ns && plan::is_controller(&d.raw.to_value()))
            .map(|d| d.id.name.to_string())
            .collect();
        let mut notes = Vec::new();
        if found.is_empty() {
            notes.push(format!(
                "the snapshot holds no Flux controller Deployment in {ns}; live, `run` restarts those it finds"
            ));
        }
        plan::Plan {
            context: "offline".into(),
            scope,
            dir,
            targets,
            controllers: (!found.is_empty()).then_some(found),
            versions,
            controllers_namespace: ns,
            warnings: Vec::new(),
            notes,
            timeout: kubectl_flux_model::duration::format_go(args.timeout),
            finalizer_wait: kubectl_flux_model::duration::format_go(args.finalizer_wait),
        }
    } else {
        runtime.block_on(async {
            let api = connect(resolved).await?;
            let (targets, served, notes) = steps::read_scope(&api, &scope).await?;
            let controllers: Vec<String> = steps::controllers(&api, &ns)
                .await?
                .iter()
                .filter_map(|d| d.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string))
                .collect();
            let mut notes = notes;
            if controllers.is_empty() {
                notes.push(format!("no Flux controller Deployment in {ns}: `run` would restart none"));
            }
            let versions = scope
                .kinds
                .iter()
                .filter_map(|k| {
                    served
                        .get(&(k.group.to_string(), k.kind.to_string()))
                        .map(|s| (k.kind.to_string(), s.version.clone()))
                })
                .collect();
            Ok::<_, ResetError>(plan::Plan {
                context: api.confirmation_name(),
                scope,
                dir,
                targets,
                controllers: Some(controllers),
                versions,
                controllers_namespace: ns,
                warnings: Vec::new(),
                notes,
                timeout: kubectl_flux_model::duration::format_go(args.timeout),
                finalizer_wait: kubectl_flux_model::duration::format_go(args.finalizer_wait),
            })
        })?
    };
    p.warnings = plan::warnings(&p.targets);
    for printer in printers {
        let out = &mut *printer.out;
        match printer.output.format {
            Format::Json | Format::Yaml => printer.output.write_document(out, &p.to_json())?,
            _ => p.write_text(out, printer.output.headers).map_err(kubectl_flux_model::Error::Output)?,
        }
        out.flush().map_err(kubectl_flux_model::Error::Output)?;
        printer.output.write_notes(out, &p.notes)?;
    }
    Ok(0)
}
