/** fluxfleet's version: the one place it is written (`fluxfleet --version`, the install wrapper). */
export const VERSION = "0.1.0";
