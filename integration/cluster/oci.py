#!/usr/bin/env python3
"""Writes an OCI image archive (oci-layout, index.json, manifest, config, one uncompressed layer)
from a root filesystem directory, for `ctr images import` without a registry or a builder.

    oci.py --rootfs DIR --name docker.io/library/NAME:TAG --out FILE.tar
           [--entrypoint JSON] [--cmd JSON] [--user U] [--env K=V]... [--workdir D]
           [--file-cap PATH=HEX]...

--file-cap sets a file capability (the security.capability xattr, as `setcap` writes it) on a file
of the layer: the image's binary carries CAP_NET_RAW that way, as in the Dockerfile.
"""

import argparse
import hashlib
import io
import json
import os
import tarfile

CAPS = {"cap_net_raw": 13, "cap_net_admin": 12, "cap_net_bind_service": 10}


def vfs_cap(spec):
    """security.capability (VFS_CAP_REVISION_2) for e.g. "cap_net_raw+ep"."""
    names, flags = spec.split("+")
    permitted = 0
    for name in names.split(","):
        permitted |= 1 << CAPS[name]
    effective = 1 if "e" in flags else 0
    data = (0x02000000 | effective).to_bytes(4, "little")
    data += permitted.to_bytes(4, "little") + (0).to_bytes(4, "little") * 3
    return data


def layer(rootfs, file_caps):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                path = os.path.join(dirpath, name)
                arc = os.path.relpath(path, rootfs)
                info = tar.gettarinfo(path, arc)
                info.mtime = 0
                info.uname = info.gname = ""
                if "/" + arc in file_caps:
                    value = vfs_cap(file_caps["/" + arc])
                    info.pax_headers["SCHILY.xattr.security.capability"] = value.decode(
                        "utf-8", "surrogateescape"
                    )
                if info.isreg():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    return buf.getvalue()


def blob(out, data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    out.append((f"blobs/sha256/{digest}", data))
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rootfs", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--entrypoint", type=json.loads)
    p.add_argument("--cmd", type=json.loads)
    p.add_argument("--user")
    p.add_argument("--workdir")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--file-cap", action="append", default=[])
    a = p.parse_args()

    file_caps = dict(fc.split("=", 1) for fc in a.file_cap)
    files = []
    layer_data = layer(a.rootfs, file_caps)
    layer_desc = blob(files, layer_data, "application/vnd.oci.image.layer.v1.tar")
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + a.env
    config = {"Env": env}
    for key, value in (("Entrypoint", a.entrypoint), ("Cmd", a.cmd), ("User", a.user), ("WorkingDir", a.workdir)):
        if value:
            config[key] = value
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
    }
    config_desc = blob(files, json.dumps(image_config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": [layer_desc],
    }
    manifest_desc = blob(files, json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    manifest_desc["annotations"] = {
        "io.containerd.image.name": a.name,
        "org.opencontainers.image.ref.name": a.name.rsplit(":", 1)[1],
    }
    manifest_desc["platform"] = {"architecture": "amd64", "os": "linux"}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [manifest_desc]}
    files.append(("index.json", json.dumps(index).encode()))
    files.append(("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()))
    with tarfile.open(a.out, "w") as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


if __name__ == "__main__":
    main()
