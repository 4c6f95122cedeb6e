"""`python -m finetune bench [key=value | WORKLOAD.key=value ...]` and `python -m finetune bench inference [key=value ...]`."""

from finetune.commands.common import add_overrides


def add(sub) -> None:
    p = sub.add_parser("bench", help="training and prediction throughput beside the transformers Trainer's: table "
                                     "and bench/results.json", description="On SST-2 and SQuAD windows, the same data, "
                                     "model, batch size, learning rate and steps: the Trainer as run_glue sets it up "
                                     "(padding to max length), the Trainer with dynamic padding and group_by_length, the "
                                     "toolkit (train.precision=auto and fp32), and the no-padding bound. Needs real data "
                                     "(FINETUNE_DATA). `bench inference [key=value ...]`: dev-set inference of a "
                                     "fine-tuned model as PyTorch fp32 / bf16 and ONNX fp32 / int8, batch 1 and 32, with "
                                     "the dev metric and MFU of each (keys: workloads=[sst2,squad] batch_sizes=[1,32] "
                                     "models={sst2: EXPORT_OR_RUN} squad_questions=300 out=DIR).")
    add_overrides(p, "bench settings (workloads=[sst2] runners=[toolkit,trainer_best] toolkit_precision=bf16 "
                     "trainer_precision=bf16 eval_questions=200 out=DIR isolate=false), per workload "
                     "(sst2.steps=30 sst2.warmup_steps=5 sst2.train_samples=4000), task config keys for every "
                     "workload (model=PATH) or one (sst2.train.batch_size=16)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.overrides[:1] == ["inference"]:
        from finetune.apps.bench import inference

        return inference.main(args.overrides[1:], " ".join(["python -m finetune bench", *args.overrides]))
    from finetune.apps.bench import bench

    return bench.main(args.overrides)
