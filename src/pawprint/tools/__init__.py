"""Commands around the pipeline that no stage imports: `pawprint bench`, `pawprint seeds`, `pawprint precision`.
Each module has a `main(argv)` with its own options (`pawprint <tool> --help`)."""
