/* ferry's version, printed by `ferryd --version` and `ferryctl --version` and named in the
 * man pages (docs/man/). Raised when a release is cut; the on-disk and wire formats have
 * their own numbers (docs/). */
#ifndef FERRY_VERSION_H
#define FERRY_VERSION_H

#define FERRY_VERSION "0.1.0"

#endif
