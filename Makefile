.PHONY: run test check sample
run:
	screening ingest --input data/sample --out work/sample
test:
	python -m pytest
check:
	ruff check . && python -m mypy && python -m pytest
sample:
	screening sample --out data/sample --seed 20210831 --size small
