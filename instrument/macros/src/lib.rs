//! `#[gosan::main]` and `#[gosan::test]`.
//!
//! - `#[gosan::main] fn main() { body }` runs `body` as goroutine 1 of a Go-like
//!   process: reports go to stderr (or `log_path`), exit 0 when clean, 2 on a panic,
//!   fatal error or deadlock, `exitcode` (66) on races or leaks. `fn main() ->
//!   Result<(), E>` (E: Debug) works like `#[tokio::main]`'s: an `Err` prints
//!   `Error: {e:?}` after the report and exits 1 unless a finding set the code; any
//!   other return type is a compile error.
//! - `#[gosan::test] fn t() { body }` is a `#[test]` that runs `body` once and fails
//!   with the full report on any finding; with `iterations = N` it explores N
//!   schedules with `gosan::check`. Other keys: `procs = N`, `strategy = "pct:3"`,
//!   `seed = N`, `leak_check = bool`. An unknown key is a compile error naming it.
//!
//! `procs` defaults to 1 for both attributes (for `#[gosan::main]` DESIGN.md's
//! default is the number of CPUs, once the parallel scheduler exists). Only
//! `procs = 1` is supported today: a literal `procs = 0` or `procs = 2` is a compile
//! error naming `procs` ("procs > 1 (the parallel G/M/P scheduler) is not supported
//! yet"); a non-literal value is checked when the run starts, where `Config::resolve`
//! rejects it with the same words.

use proc_macro::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{parse_macro_input, Expr, ItemFn, Lit, MetaNameValue, Token};

/// Runs `main`'s body as the main goroutine of a gosan run, like a Go program.
///
/// `fn main()` or `fn main() -> Result<(), E>` (E: Debug; an `Err` prints
/// `Error: {e:?}` and exits 1 when the run found nothing, like std's `main`).
///
/// Keys: `procs`, `strategy`, `seed`, `leak_check`. `procs` defaults to 1 (DESIGN.md's
/// number-of-CPUs default waits for the parallel scheduler); `procs = 2` is a compile
/// error: not supported yet. An option error at run time prints `gosan: <error>` and
/// exits 2.
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    let f = parse_macro_input!(item as ItemFn);
    let opts = match options(attr.into()) {
        Ok(o) => o,
        Err(e) => return e.to_compile_error().into(),
    };
    if opts.iterations.is_some() {
        return syn::Error::new_spanned(
            &f.sig,
            "#[gosan::main]: `iterations` is only for #[gosan::test]",
        )
        .to_compile_error()
        .into();
    }
    if !f.sig.inputs.is_empty() || f.sig.asyncness.is_some() {
        return syn::Error::new_spanned(
            &f.sig,
            "#[gosan::main]: expected `fn main()` or `fn main() -> Result<(), E>`",
        )
        .to_compile_error()
        .into();
    }
    let cfg = opts.config();
    let attrs = &f.attrs;
    let vis = &f.vis;
    let name = &f.sig.ident;
    let body = &f.block;
    let call = match &f.sig.output {
        syn::ReturnType::Default => quote! { ::gosan::__private::main(#cfg, move || #body) },
        syn::ReturnType::Type(_, ty) if returns_result(ty) => {
            quote! { ::gosan::__private::main_result(#cfg, move || -> #ty #body) }
        }
        syn::ReturnType::Type(_, ty) => {
            return syn::Error::new_spanned(
                ty,
                "#[gosan::main]: main may return nothing or a `Result<(), E>` (E: Debug); \
                 for an exit code, return an `Err` or call `std::process::exit`",
            )
            .to_compile_error()
            .into()
        }
    };
    quote! {
        #(#attrs)*
        #vis fn #name() {
            #call
        }
    }
    .into()
}

/// Whether a return type is spelled as a `Result` (`Result<(), E>`, `io::Result<()>`,
/// `anyhow::Result<()>`): its `Ok` type is checked by the compiler against `()`.
fn returns_result(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
        syn::Type::Paren(p) => returns_result(&p.elem),
        syn::Type::Group(g) => returns_result(&g.elem),
        _ => false,
    }
}

/// A `#[test]` whose body runs under gosan; fails with the report on any finding.
///
/// Keys: `iterations` (explore that many schedules with `gosan::check`), `procs`
/// (only 1, the default; `procs = 2` is a compile error: not supported yet),
/// `strategy = "pct:3"`, `seed`, `leak_check`.
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    let f = parse_macro_input!(item as ItemFn);
    let opts = match options(attr.into()) {
        Ok(o) => o,
        Err(e) => return e.to_compile_error().into(),
    };
    if !f.sig.inputs.is_empty() || f.sig.asyncness.is_some() {
        return syn::Error::new_spanned(&f.sig, "#[gosan::test]: expected `fn name()`")
            .to_compile_error()
            .into();
    }
    let cfg = opts.config();
    let attrs = &f.attrs;
    let vis = &f.vis;
    let name = &f.sig.ident;
    let body = &f.block;
    let call = match &opts.iterations {
        Some(n) => quote! { ::gosan::__private::test_check(#cfg, #n, move || #body) },
        None => quote! { ::gosan::__private::test_run(#cfg, move || #body) },
    };
    quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis fn #name() {
            #call
        }
    }
    .into()
}

#[derive(Default)]
struct Options {
    iterations: Option<Expr>,
    procs: Option<Expr>,
    strategy: Option<Expr>,
    seed: Option<Expr>,
    leak_check: Option<Expr>,
}

impl Options {
    fn config(&self) -> proc_macro2::TokenStream {
        let mut c = quote! { ::gosan::Config::new() };
        if let Some(p) = &self.procs {
            c = quote! { #c.procs(#p) };
        }
        if let Some(s) = &self.strategy {
            c = quote! { #c.strategy(::gosan::__private::strategy(#s)) };
        }
        if let Some(s) = &self.seed {
            c = quote! { #c.seed(#s) };
        }
        if let Some(l) = &self.leak_check {
            c = quote! { #c.leak_check(#l) };
        }
        c
    }
}

/// Checks a `procs = …` value that is an integer literal: 1 is the only value
/// supported today. Other expressions are left to `Config::resolve` at run time.
fn check_procs(value: &Expr) -> syn::Result<()> {
    let Expr::Lit(syn::ExprLit {
        lit: Lit::Int(n), ..
    }) = value
    else {
        return Ok(());
    };
    match n.base10_parse::<u64>() {
        Ok(1) => Ok(()),
        Ok(0) => Err(syn::Error::new_spanned(
            value,
            "gosan option `procs`: expected at least 1",
        )),
        Ok(_) => Err(syn::Error::new_spanned(
            value,
            "gosan option `procs`: procs > 1 (the parallel G/M/P scheduler) is not supported yet",
        )),
        Err(e) => Err(syn::Error::new_spanned(
            value,
            format!("gosan option `procs`: {e}"),
        )),
    }
}

fn options(attr: proc_macro2::TokenStream) -> syn::Result<Options> {
    let parser = Punctuated::<MetaNameValue, Token![,]>::parse_terminated;
    let list = parser.parse2(attr)?;
    let mut o = Options::default();
    for nv in list {
        let key = nv
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        let v = nv.value.clone();
        let slot = match key.as_str() {
            "iterations" => &mut o.iterations,
            "procs" => {
                check_procs(&v)?;
                &mut o.procs
            }
            "strategy" => {
                if !matches!(&v, Expr::Lit(l) if matches!(l.lit, Lit::Str(_))) {
                    return Err(syn::Error::new_spanned(&nv.value, "`strategy` expects a string such as \"pct:3\""));
                }
                &mut o.strategy
            }
            "seed" => &mut o.seed,
            "leak_check" => &mut o.leak_check,
            _ => {
                return Err(syn::Error::new_spanned(
                    &nv.path,
                    format!(
                        "unknown gosan option `{key}` (known: iterations, procs, strategy, seed, leak_check)"
                    ),
                ))
            }
        };
        if slot.is_some() {
            return Err(syn::Error::new_spanned(
                &nv.path,
                format!("gosan option `{key}` given twice"),
            ));
        }
        *slot = Some(v);
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::options;
    use quote::quote;

    fn err(attr: proc_macro2::TokenStream) -> String {
        match options(attr) {
            Ok(_) => "accepted".to_string(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn procs_above_one_is_a_compile_error_naming_it() {
        assert_eq!(
            err(quote! { procs = 2 }),
            "gosan option `procs`: procs > 1 (the parallel G/M/P scheduler) is not supported yet"
        );
        assert_eq!(
            err(quote! { iterations = 10, procs = 8 }),
            "gosan option `procs`: procs > 1 (the parallel G/M/P scheduler) is not supported yet"
        );
        assert_eq!(
            err(quote! { procs = 0 }),
            "gosan option `procs`: expected at least 1"
        );
    }

    #[test]
    fn procs_one_and_non_literals_are_accepted() {
        let o = options(quote! { procs = 1, seed = 3 }).unwrap();
        assert!(o.procs.is_some() && o.seed.is_some());
        // Checked at run time by Config::resolve.
        assert!(options(quote! { procs = N }).is_ok());
    }

    #[test]
    fn main_may_return_a_result() {
        let ty = |t: proc_macro2::TokenStream| syn::parse2::<syn::Type>(t).unwrap();
        assert!(super::returns_result(&ty(quote! { Result<(), String> })));
        assert!(super::returns_result(&ty(quote! { std::io::Result<()> })));
        assert!(!super::returns_result(&ty(
            quote! { std::process::ExitCode }
        )));
        assert!(!super::returns_result(&ty(quote! { () })));
    }

    #[test]
    fn unknown_and_repeated_keys_name_themselves() {
        assert!(err(quote! { colour = 1 }).contains("unknown gosan option `colour`"));
        assert_eq!(
            err(quote! { seed = 1, seed = 2 }),
            "gosan option `seed` given twice"
        );
    }
}
