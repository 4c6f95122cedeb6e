"""Arguments several commands share."""

OVERRIDES_HELP = "key=value overrides of any config key, e.g. train.epochs=2 model=PATH_OR_HUB_ID"


def add_overrides(parser, help: str = OVERRIDES_HELP) -> None:
    parser.add_argument("overrides", nargs="*", metavar="key=value", help=help)
