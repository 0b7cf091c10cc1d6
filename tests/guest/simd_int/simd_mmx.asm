; MMX family in long mode: saturating arithmetic, multiply-add, pack/unpack,
; shifts by register and imm8, PSHUFW, PEXTRW/PINSRW, PMOVMSKB, PSADBW,
; MASKMOVQ (stores to [rdi]) and EMMS. Expected registers are those the host
; CPU produces running the body natively (user-level instructions).
; SDM Vol. 1 ch. 9; Vol. 2 per instruction.
; mode: long
; backends: soft   (the reference /dev/kvm here emulates guests and cannot emulate MMX/SSE)
; expect: rax=0xbfb rbx=0x75 rcx=0xbfbfbf80bfb03f8 rdx=0x4c8
; expect: r8=0xefff07dcf7e50022 r9=0x7ffe0180c0f01008 r10=0x7ffc2030 r11=0x80017f02ff102030
; expect-exit: hlt
bits 64
org 0x10000
  mov rax, cr4
  bts rax, 9                   ; CR4.OSFXSR
  mov cr4, rax
; body
  lea rdi, [rel scratch]
  pxor mm0, mm0
  por mm0, [rel va]
  pxor mm1, mm1
  por mm1, [rel vb]
  pcmpeqb mm7, mm7             ; all-ones store mask
  paddusb mm0, mm1
  pmaddwd mm1, [rel vb]
  packsswb mm0, mm1
  punpckhbw mm0, [rel va]
  psllq mm0, 3
  pshufw mm2, mm0, 0x1b
  pextrw eax, mm2, 1
  pinsrw mm2, eax, 3
  pmovmskb ebx, mm2
  maskmovq mm2, mm7
  mov rcx, [rdi]
  psadbw mm1, mm0
  maskmovq mm1, mm7
  mov rdx, [rdi]
  pxor mm3, mm3
  por mm3, [rel va]
  pmulhw mm3, [rel vb]
  pavgb mm3, [rel va]
  psubsw mm3, [rel vb]
  pxor mm4, mm4
  pcmpgtw mm4, mm3
  psraw mm3, [rel cnt]
  paddw mm3, mm4
  maskmovq mm3, mm7
  mov r8, [rdi]
  pxor mm5, mm5
  por mm5, [rel vb]
  psrld mm5, 1
  pminub mm5, [rel va]
  punpcklbw mm5, [rel va]
  psubusb mm5, mm0
  pcmpeqw mm5, mm5
  pxor mm5, [rel vb]
  pandn mm5, mm7
  maskmovq mm5, mm7
  mov r9, [rdi]
  pxor mm6, mm6
  por mm6, [rel va]
  packuswb mm6, mm6
  punpckldq mm6, [rel vb]
  pmullw mm6, [rel vb]
  psrlq mm6, 16
  psubd mm6, [rel va]
  paddsb mm6, [rel vb]
  pmaxsw mm6, [rel va]
  pextrw r10d, mm6, 0
  pextrw r11d, mm6, 3
  shl r11, 16
  or r10, r11
  mov r11, [rel va]
  emms
; end body
  hlt
; data
align 16
va: dq 0x80017f02ff102030
vb: dq 0x7ffe0180c0f01008
cnt: dq 3
scratch: dq 0, 0
