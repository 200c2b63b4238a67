#!/usr/bin/env node
// lesion's preinstall: keep onnxruntime-node's install step on the CPU binaries its npm tarball ships.
//
// onnxruntime-node's postinstall (script/install.js) downloads the CUDA execution provider from NuGet on linux/x64
// unless an install flag is set or the files it would download already exist. lesion computes on the CPU only, and a
// machine that reaches only the npm registry cannot do that download, so the install of every project depending on
// lesion would fail. npm runs every package's preinstall before any package's postinstall, so this script, run as
// lesion's preinstall, writes empty stand-ins at the paths of the files that would be downloaded (taken from
// onnxruntime-node's own install metadata); its install step then finds nothing missing and downloads nothing.
//
// An explicit choice wins: with ONNXRUNTIME_NODE_INSTALL / ONNXRUNTIME_NODE_INSTALL_CUDA (or npm's
// --onnxruntime-node-install) set, this script does nothing and onnxruntime-node installs as asked; a forced install
// (`ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node`) overwrites the stand-ins with the real libraries.
// This script never fails an install: anything unexpected leaves onnxruntime-node's own step to decide.
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const FLAGS = [
  "ONNXRUNTIME_NODE_INSTALL",
  "npm_config_onnxruntime_node_install",
  "ONNXRUNTIME_NODE_INSTALL_CUDA",
  "npm_config_onnxruntime_node_install_cuda",
];

function main() {
  if (FLAGS.some((name) => process.env[name])) return;
  let root;
  try {
    root = path.dirname(require.resolve("onnxruntime-node/package.json", { paths: [process.cwd(), __dirname] }));
  } catch {
    return; // not installed (yet): nothing to keep from downloading
  }
  const metadata = require(path.join(root, "script", "install-metadata.js"));
  const platform = `${os.platform()}/${os.arch()}`;
  const binFolder = path.join(root, "bin", "napi-v6", platform);
  for (const name of metadata.requirements?.[platform] ?? []) {
    const manifest = metadata.manifests?.[`${platform}:${name}`] ?? {};
    for (const file of Object.keys(manifest)) {
      const target = path.join(binFolder, file);
      if (fs.existsSync(target)) continue;
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, "");
    }
  }
}

try {
  main();
} catch (error) {
  console.warn(`lesion: could not mark onnxruntime-node's GPU libraries as not needed (${error?.message ?? error})`);
}
