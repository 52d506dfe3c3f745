import path from 'node:path';

/**
 * The repository root, whether this file runs from source (lib/) under tsx or
 * compiled (dist/lib/) under node.
 */
const up = path.resolve(__dirname, '..');
export const PROJECT_ROOT = path.basename(up) === 'dist' ? path.resolve(up, '..') : up;
