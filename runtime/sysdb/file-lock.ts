import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { DatabaseConnectionError } from "../errors.js";

interface FileLocks {
  tryLock(fd: number): boolean;
  unlock(fd: number): void;
}

let fileLocks: FileLocks | undefined;

/**
 * fs-native-extensions ships prebuilt binaries for every platform Node runs on (no
 * install script), and is CommonJS with no types: loaded through require, and only
 * when the embedded database is opened, so a bundle that uses Postgres needs no addon.
 */
function locks(): FileLocks {
  // A CommonJS bundle has a require and no import.meta; an ES module the reverse.
  const load = typeof require === "function" ? require : createRequire(import.meta.url);
  return (fileLocks ??= load("fs-native-extensions") as FileLocks);
}

/** Folders whose lock this process holds: a second launch here gets its own message. */
const heldHere = new Set<string>();

/**
 * Takes the exclusive lock of the embedded database in `dir`, or throws a
 * DatabaseConnectionError saying who holds it. The lock is an OS file lock (an
 * open-file-description lock on Linux, flock elsewhere): the kernel drops it when the
 * holder's process ends, however it ends. So a killed process never leaves a stale lock
 * behind, and no PID is compared: a PID means nothing across containers, where every
 * restart is PID 1, nor once the kernel has given it to another process. The holder's
 * PID is written in the file only for the message.
 */
export function acquireDirectoryLock(dir: string): () => void {
  const lockPath = path.join(dir, "stepwise.lock");
  const fd = fs.openSync(lockPath, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  let locked: boolean;
  try {
    locked = locks().tryLock(fd);
  } catch (error) {
    fs.closeSync(fd);
    throw new DatabaseConnectionError(
      `Cannot lock the embedded database in ${dir} (${(error as Error).message}): the file system may not support ` +
        `file locks. Put the data folder on a local disk, or use a Postgres server with STEPWISE_DATABASE_URL.`,
    );
  }
  if (!locked) {
    const owner = fs.readFileSync(fd, "utf8").trim();
    fs.closeSync(fd);
    if (heldHere.has(dir)) {
      throw new DatabaseConnectionError(
        `The embedded database in ${dir} is already open in this process; call Stepwise.shutdown() before launching again.`,
      );
    }
    throw new DatabaseConnectionError(
      `The embedded database in ${dir} is in use by ${/^\d+$/.test(owner) ? `process ${owner}` : "another process"}. ` +
        `The embedded database (PGlite) serves one process at a time: stop that process, ` +
        `or point every process at one Postgres server with STEPWISE_DATABASE_URL.`,
    );
  }
  fs.ftruncateSync(fd);
  fs.writeSync(fd, String(process.pid), 0);
  heldHere.add(dir);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    heldHere.delete(dir);
    // The file stays: removing a lock file while another process waits on it would let
    // a third one lock a new file of the same name.
    try {
      locks().unlock(fd);
    } finally {
      fs.closeSync(fd);
    }
  };
}
