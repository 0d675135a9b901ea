/* heap_probe: prints how much memory malloc had taken from the system when
 * main began ("arena N"): 0 when nothing allocated before main, as for an
 * untraced program that has not called malloc yet. */
#include <malloc.h>
#include <stdio.h>

int main(void) {
  struct mallinfo2 mi = mallinfo2(); /* allocates nothing */
  size_t arena = mi.arena, blocks = mi.uordblks;
  printf("arena %zu used %zu\n", arena, blocks);
  return 0;
}
