/* early_main: linked with early_lib (see there). Prints "main N", N = 1
 * when the library's constructor ran to its end. */
#include <stdio.h>

int early_ran(void);

int main(void) {
  printf("main %d\n", early_ran());
  return 0;
}
