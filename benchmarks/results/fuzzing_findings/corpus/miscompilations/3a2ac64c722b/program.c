#include <stdio.h>
unsigned id1 ;
int id2 ;
id3 ( ) {
}
id4 ( ) {
id1 = ( unsigned ) 1.7 ;
id2 = ( int ) 1.7 ;
}
id5 ( ) {
id2 = ( int ) -1.7 ;
}
id6 ( id7 ) double id7 ;
{
id1 = ( unsigned ) id7 ;
}
double id8 ( id9 ) unsigned id9 ;
{
return id9 ;
}
gensdk_main ( ) {
printf ( "%lf\n" , id8 ( 2400000000 ) ) ;
id3 ( ) ;
printf ( "%lf, %u, %d\n" , 2400000000.0 , id1 , id2 ) ;
id4 ( ) ;
printf ( "%lf, %u, %d\n" , 1.7 , id1 , id2 ) ;
id5 ( ) ;
printf ( "%lf, %u, %d\n" , -1.7 , id1 , id2 ) ;
id6 ( 2400000000.0 ) ;
printf ( "%lf, %u, %d\n" , 2400000000.0 , id1 , id2 ) ;
id6 ( 1.7 ) ;
printf ( "%lf, %u, %d\n" , 1.7 , id1 , id2 ) ;
id6 ( -1.7 ) ;
printf ( "%lf, %u, %d\n" , -1.7 , id1 , id2 ) ;
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
  gensdk_hash(&id1, sizeof id1);
  gensdk_hash(&id2, sizeof id2);
  printf("checksum = %08X\n", gensdk_crc ^ 0xFFFFFFFFu);
}
int main(void) {
  atexit(gensdk_report);
  gensdk_main();
  return 0;
}
