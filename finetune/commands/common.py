"""Arguments several commands share."""

OVERRIDES_HELP = "key=value overrides of any config key, e.g. train.epochs=2 model=PATH_OR_HUB_ID"
# predict and score use a trained model (or none): a training key means nothing to them.
INFERENCE_OVERRIDES_HELP = ("key=value overrides of the run's config, e.g. data.max_seq_length=256 "
                            "train.eval_batch_size=64 (squad: null_threshold=1.5)")


def add_overrides(parser, help: str = OVERRIDES_HELP) -> None:
    parser.add_argument("overrides", nargs="*", metavar="key=value", help=help)
