; INC and DEC leave CF alone and set OF/SF/ZF/AF/PF; flags in r8..r12.
; SDM Vol. 2A, INC, DEC.
; mode: long
; expect: rax=0x80 rbx=0 rcx=0xffffffff rdx=0x8000000000000000
; expect: r8=0x893 r9=0x46 r10=0x96 r11=0x896 r12=0x56
; expect-mem: 0x20000 = 00
; expect-exit: hlt
bits 64
org 0x10000
  stc
  mov al, 0x7f
  inc al                       ; 0x80: OF SF AF, CF kept
  pushfq
  pop r8
  clc
  mov bx, 1
  dec bx                       ; 0: ZF PF
  pushfq
  pop r9
  mov ecx, 0
  dec ecx                      ; -1: SF AF PF
  pushfq
  pop r10
  mov rdx, 0x7fffffffffffffff
  inc rdx                      ; OF SF AF PF
  pushfq
  pop r11
  mov byte [0x20000], 0xff
  inc byte [0x20000]           ; 0: ZF AF PF
  pushfq
  pop r12
  hlt
