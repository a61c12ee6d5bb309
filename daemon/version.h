#ifndef HPCD_VERSION_H
#define HPCD_VERSION_H

#define HPCD_VERSION "0.1.0"

#endif
