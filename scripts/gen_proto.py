"""Generate src/squall/_proto from proto/ (run by `make proto`; a test checks it is fresh)."""

import pathlib
import re
import sys

from grpc_tools import protoc


def generate(out_dir: pathlib.Path) -> None:
    root = pathlib.Path(__file__).resolve().parent.parent
    protos = sorted(str(p.relative_to(root / "proto")) for p in (root / "proto").rglob("*.proto"))
    out_dir.mkdir(parents=True, exist_ok=True)
    args = ["protoc", f"-I{root / 'proto'}", f"--python_out={out_dir}", f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}", *protos]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    # Generated modules import each other as `squall.v1.x_pb2`; they live under squall._proto.
    for path in [*out_dir.rglob("*.py"), *out_dir.rglob("*.pyi")]:
        text = path.read_text()
        fixed = re.sub(r"^from squall\.v1 import", "from squall._proto.squall.v1 import", text, flags=re.M)
        if fixed != text:
            path.write_text(fixed)
    for pkg in (out_dir / "squall", out_dir / "squall" / "v1"):
        (pkg / "__init__.py").touch()


if __name__ == "__main__":
    generate(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent / "src/squall/_proto")
