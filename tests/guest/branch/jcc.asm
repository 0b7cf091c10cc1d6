; The 16 Jcc conditions after three comparisons, as bit masks (bit n set
; when condition n is taken: o no b ae e ne be a s ns p np l ge le g) in
; r8..r10; LOOP and JRCXZ. LEA keeps the flags intact while counting.
; SDM Vol. 2A, Jcc; Vol. 2B, LOOP.
; mode: long
; expect: r8=0x5566 r9=0xa565 r10=0x665a r11=5 rcx=0 r12=1
; expect-exit: hlt
bits 64
org 0x10000
%macro TAKEN 3                 ; condition, bit, mask register
  j%1 %%yes
  jmp %%no
%%yes:
  lea %3, [%3 + (1 << %2)]
%%no:
%endmacro
%macro ALL 1
  TAKEN o, 0, %1
  TAKEN no, 1, %1
  TAKEN b, 2, %1
  TAKEN ae, 3, %1
  TAKEN e, 4, %1
  TAKEN ne, 5, %1
  TAKEN be, 6, %1
  TAKEN a, 7, %1
  TAKEN s, 8, %1
  TAKEN ns, 9, %1
  TAKEN p, 10, %1
  TAKEN np, 11, %1
  TAKEN l, 12, %1
  TAKEN ge, 13, %1
  TAKEN le, 14, %1
  TAKEN g, 15, %1
%endmacro
  mov eax, 1
  cmp eax, 2                   ; CF SF PF
  ALL r8
  mov eax, 0x7fffffff
  cmp eax, -1                  ; CF OF SF PF
  ALL r9
  mov eax, 5
  cmp eax, 5                   ; ZF PF
  ALL r10
  mov ecx, 5
.loop:
  inc r11
  loop .loop
  jrcxz .zero
  hlt
.zero:
  mov r12d, 1
  hlt
