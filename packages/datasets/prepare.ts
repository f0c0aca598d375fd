/**
 * Turns the original ISIC challenge archives into the official VM-UNet layout (work in
 * progress).
 *
 * @module
 */

/** Version of the layout written by the prepare command. */
export const PREPARE_LAYOUT_VERSION: number = 1;
