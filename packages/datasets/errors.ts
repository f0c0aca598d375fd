/**
 * Typed errors of `@vmunet/datasets`. Every message names the file, key, shape or option at
 * fault and what was expected.
 *
 * @module
 */

/** Base class of every error raised by this package; `name` is the concrete class's. */
export class DatasetError extends Error {
  /** Creates a dataset error with the given message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An error about one file or folder: the message is `file: problem`. */
export class DatasetFileError extends DatasetError {
  /** The file, folder or entry name at fault. */
  readonly file: string;
  /** Creates the error; `file` names the file or folder, `problem` says what is wrong with it. */
  constructor(file: string, problem: string, options?: ErrorOptions) {
    super(`${file}: ${problem}`, options);
    this.file = file;
  }
}

/** A file could not be decoded: corrupt, truncated, or of an unsupported format. */
export class DecodeError extends DatasetFileError {}

/** The files on disk do not form a dataset: empty folder, image without mask, size mismatch. */
export class DatasetLayoutError extends DatasetFileError {}

/** A key (npz member or HDF5 dataset) that a format requires is missing or has the wrong shape. */
export class MissingKeyError extends DatasetError {
  /** The file that lacks the key. */
  readonly file: string;
  /** The missing or malformed key. */
  readonly key: string;
  /** Creates the error; `problem` says what was expected of `key` in `file`. */
  constructor(file: string, key: string, problem: string) {
    super(`${file}: key "${key}" ${problem}`);
    this.file = file;
    this.key = key;
  }
}

/** An option passed to a dataset, transform or loader is out of range or inconsistent. */
export class DatasetOptionError extends DatasetError {
  /** The option at fault. */
  readonly option: string;
  /** Creates the error; `problem` says what was expected of `option`. */
  constructor(option: string, problem: string) {
    super(`option ${option}: ${problem}`);
    this.option = option;
  }
}
