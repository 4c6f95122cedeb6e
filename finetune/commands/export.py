"""`python -m finetune export RUN [--out DIR] [--push REPO_ID [--private]] [--onnx [--quantize int8]]`."""


def add(sub) -> None:
    p = sub.add_parser("export", help="a plain Hugging Face folder from a run (and, with --push, on the Hub)")
    p.add_argument("run", metavar="RUN", help="a run folder (its best checkpoint is exported), or a seeds study folder "
                                             "(its best-dev seed)")
    p.add_argument("--out", help="the folder to write (default: exports/<run name>)")
    p.add_argument("--push", metavar="REPO_ID", help="also upload the folder to this Hugging Face Hub model repo "
                                                     "(USER/NAME; created when missing). Needs a login: `hf auth "
                                                     "login` or HF_TOKEN")
    p.add_argument("--private", action="store_true", help="with --push: create the repo private")
    p.add_argument("--onnx", action="store_true", help="also write onnx/model.onnx, checked against PyTorch on the dev "
                                                     "set (max |difference| <= 1e-4, same metrics; export.json). "
                                                     "Needs pip install 'finetune[onnx]'")
    p.add_argument("--quantize", choices=["int8"], help="with --onnx: also onnx/model_quantized.onnx (dynamic int8), "
                                                      "refused when it loses more than --max-metric-drop")
    p.add_argument("--max-metric-drop", type=float, default=1.0, metavar="POINTS",
                   help="with --quantize: the most the primary metric may lose, in points (default 1)")
    p.add_argument("--parity-data", metavar="FILE", help="with --onnx: a labelled file for the check instead of the "
                                                         "run's dev set")
    p.add_argument("--max-samples", type=int, metavar="N", help="with --onnx: check on the first N dev examples only")
    p.set_defaults(func=run)


def run(args) -> None:
    from finetune.errors import InputError
    from finetune.serve.export import export
    from finetune.serve.onnx.export import OnnxOptions

    if args.private and not args.push:
        raise InputError("--private is for --push REPO_ID: give the repo to create, or drop --private.")
    given = [flag for flag, value in (("--quantize", args.quantize), ("--parity-data", args.parity_data),
                                      ("--max-samples", args.max_samples)) if value]
    if given and not args.onnx:
        raise InputError(f"{', '.join(given)} is for --onnx: add --onnx.")
    if args.max_samples is not None and args.max_samples < 1:
        raise InputError(f"--max-samples {args.max_samples}: give a positive number of examples.")
    onnx = OnnxOptions(args.quantize, args.max_metric_drop, args.parity_data, args.max_samples) if args.onnx else None
    export(args.run, args.out, args.push, args.private, onnx)
