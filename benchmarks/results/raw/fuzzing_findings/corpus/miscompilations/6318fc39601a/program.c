#include <stdio.h>
int id1 ( id2 ) float id2 ;
{
union {
float id2 ;
int id3 ;
}
id4 ;
id4 . id2 = id2 ;
return id4 . id3 & ~ 1 ;
}
float id5 ( int id6 ) {
union {
float id2 ;
int id3 ;
}
id4 ;
id4 . id3 = id6 ;
return id4 . id2 ;
}
gensdk_main ( ) {
int id7 = id1 ( 1.2 ) ;
int id8 = id1 ( 5.7 ) ;
int id9 = id1 ( id5 ( id7 ) * id5 ( id8 ) ) ;
printf ( "%g\n" , ( double ) id5 ( id9 ) ) ;
}

int printf(const char *, ...);
int atexit(void (*)(void));
/* gensdk: what follows prints a checksum of the globals at exit */
static unsigned int gensdk_crc = 0xFFFFFFFFu;
static void gensdk_hash(const void *p, unsigned long n) {
  const unsigned char *b = (const unsigned char *) p;
  int k;
  while (n--) {
    gensdk_crc ^= *b++;
    for (k = 0; k < 8; k++) gensdk_crc = (gensdk_crc >> 1) ^ (0xEDB88320u & (0u - (gensdk_crc & 1u)));
  }
}
static void gensdk_report(void) {
  printf("checksum = %08X\n", gensdk_crc ^ 0xFFFFFFFFu);
}
int main(void) {
  atexit(gensdk_report);
  gensdk_main();
  return 0;
}
